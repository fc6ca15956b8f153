'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const npy = require('../npy');
const { compareTensors, compareDirs } = require('../compare');

const BENCH = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-cmp-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const f32 = (shape, arr) => ({ dtype: 'float32', shape, data: Float32Array.from(arr) });

test('compareTensors: abs/rel error against the reference', () => {
  let r = compareTensors(f32([3], [1, 2, 3]), f32([3], [1, 2, 4]));
  assert.strictEqual(r.max_abs, 1); assert.strictEqual(r.max_rel, 0.25);
  r = compareTensors(f32([2], [1e-9, 0]), f32([2], [0, 0]));
  assert.ok(Math.abs(r.max_rel - 1e-3) < 1e-9, String(r.max_rel)); // denominator floored at 1e-6
  r = compareTensors(f32([2], [NaN, 1]), f32([2], [NaN, 1]));
  assert.strictEqual(r.max_abs, 0);
  r = compareTensors(f32([2], [NaN, 1]), f32([2], [0, 1]));
  assert.strictEqual(r.max_abs, Infinity); assert.strictEqual(r.nan_mismatches, 1);
  r = compareTensors({ dtype: 'int64', shape: [2], data: BigInt64Array.from([5n, 7n]) }, { dtype: 'int64', shape: [2], data: BigInt64Array.from([5n, 9n]) });
  assert.strictEqual(r.max_abs, 2);
});

function setup(name, outs, frugalOuts) {
  const fd = path.join(tmp, name, 'frugal'), od = path.join(tmp, name, 'ort');
  fs.mkdirSync(fd, { recursive: true }); fs.mkdirSync(od, { recursive: true });
  outs.forEach((t) => npy.writeNpy(path.join(od, npy.safeName(t.name) + '.npy'), t));
  (frugalOuts || outs).forEach((t, k) => npy.writeTensorProto(path.join(fd, `output_${k}.pb`), t));
  const js = path.join(tmp, name, 'frugal.json');
  fs.writeFileSync(js, 'some log line\n' + JSON.stringify({ latency_ms: { p50: 1 }, outputs: outs.map((t) => ({ name: t.name, shape: t.shape, dtype: t.dtype })) }) + '\n');
  return { fd, od, js };
}

test('compareDirs: order from frugal JSON, names from .pb fallback', () => {
  const outs = [{ ...f32([2, 2], [1, -2, 3, 4]), name: 'logits/raw' }, { dtype: 'int64', shape: [2], data: BigInt64Array.from([1n, 0n]), name: 'am' }];
  const { fd, od, js } = setup('same', outs);
  let s = compareDirs({ frugalDir: fd, ortDir: od, frugalJson: js });
  assert.ok(s.ok); assert.strictEqual(s.max_rel, 0); assert.strictEqual(s.names_from, 'frugal json');
  s = compareDirs({ frugalDir: fd, ortDir: od });
  assert.ok(s.ok); assert.strictEqual(s.names_from, 'tensor names');
  assert.deepStrictEqual(s.outputs.map((o) => o.name), ['logits/raw', 'am']);
});

test('compareDirs: tolerance, shape mismatch, missing file', () => {
  const ref = [{ ...f32([4], [1, 2, 3, 4]), name: 'y' }];
  let d = setup('tol-ok', ref, [{ ...f32([4], [1, 2, 3, 4 + 3e-4]), name: 'y' }]);
  let s = compareDirs({ frugalDir: d.fd, ortDir: d.od, frugalJson: d.js, tol: 1e-4 });
  assert.ok(s.ok, JSON.stringify(s)); // 3e-4 / 4 = 7.5e-5
  d = setup('tol-bad', ref, [{ ...f32([4], [1, 2, 3, 4.001]), name: 'y' }]);
  s = compareDirs({ frugalDir: d.fd, ortDir: d.od, frugalJson: d.js, tol: 1e-4 });
  assert.ok(!s.ok); assert.ok(Math.abs(s.max_rel - 2.5e-4) < 1e-6);
  d = setup('shape', ref, [{ ...f32([2, 2], [1, 2, 3, 4]), name: 'y' }]);
  s = compareDirs({ frugalDir: d.fd, ortDir: d.od, frugalJson: d.js });
  assert.ok(!s.ok); assert.match(s.outputs[0].error, /shape \[2,2\] \(frugal\) != \[4\] \(ORT\)/);
  fs.rmSync(path.join(d.fd, 'output_0.pb'));
  s = compareDirs({ frugalDir: d.fd, ortDir: d.od, frugalJson: d.js });
  assert.ok(!s.ok); assert.match(s.outputs[0].error, /missing/);
});

test('compare.js CLI exit codes and JSON', () => {
  const ref = [{ ...f32([2], [1, 2]), name: 'y' }];
  const good = setup('cli-good', ref);
  const bad = setup('cli-bad', ref, [{ ...f32([2], [1, 3]), name: 'y' }]);
  const run = (args) => spawnSync(process.execPath, [path.join(BENCH, 'compare.js'), ...args], { encoding: 'utf8' });
  let r = run([good.fd, good.od, '--frugal-json', good.js, '--json']);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.strictEqual(JSON.parse(r.stdout).ok, true);
  r = run([bad.fd, bad.od, '--frugal-json', bad.js]);
  assert.strictEqual(r.status, 1); assert.match(r.stdout, /^FAIL/m);
  r = run([good.fd]);
  assert.strictEqual(r.status, 2);
});
