'use strict';
// End to end: engine.sh with a stand-in frugal (test/fake_frugal.js, which runs ORT).
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { MODELS } = require('./onnx_model');

const BENCH = path.join(__dirname, '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-eng-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
for (const m of ['mlp', 'fixed']) fs.writeFileSync(path.join(tmp, m + '.onnx'), MODELS[m]());

function engine(env, args) {
  return spawnSync('bash', [path.join(BENCH, 'engine.sh'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, THREADS: '1', BATCHES: '1 2', ROUNDS: '2', ROUND_S: '0.05', WARMUP: '1', ...env },
  });
}
const rows = (out) => out.split('\n').filter((l) => /^\| (mlp|fixed) /.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));

test('engine.sh: interleaved frugal/ORT rows, report file, n/a and skip notes', () => {
  const res = path.join(tmp, 'r1');
  const r = engine({ FRUGAL: path.join(BENCH, 'test/fake_frugal.js'), RESULTS: res },
    [path.join(tmp, 'mlp.onnx'), path.join(tmp, 'fixed.onnx'), path.join(tmp, 'missing.onnx')]);
  assert.strictEqual(r.status, 0, r.stderr);
  const rs = rows(r.stdout);
  assert.strictEqual(rs.length, 4);
  for (const row of rs.slice(0, 3)) {
    assert.match(row[3], /^\d+\.\d$/); assert.match(row[4], /^\d+\.\d$/); assert.match(row[5], /^\d+(\.\d+)?(e[-+]\d+)?$/);
    assert.strictEqual(row[6], '0.00e+0');
  }
  assert.deepStrictEqual(rs[3], ['fixed', '1', '2', 'n/a', 'n/a', 'n/a', 'n/a', 'n/a']);
  const reports = fs.readdirSync(res).filter((f) => /^engine-.*\.md$/.test(f));
  assert.strictEqual(reports.length, 1);
  const md = fs.readFileSync(path.join(res, reports[0]), 'utf8');
  assert.match(md, /\| mlp \| 1 \| 2 \|/);
  assert.match(md, /skipped .*missing.onnx: not found/);
  assert.match(md, /no dynamic batch dimension/);
  const raw = fs.readFileSync(path.join(res, reports[0].replace(/\.md$/, '.jsonl')), 'utf8').trim().split('\n').map(JSON.parse);
  // interleaved: frugal round 1, ort round 1, frugal round 2, ...
  assert.deepStrictEqual(raw.slice(0, 4).map((x) => `${x.engine}${x.round}`), ['frugal1', 'ort1', 'frugal2', 'ort2']);
  assert.ok(!fs.readdirSync(res).some((f) => f.startsWith('work-')), 'work dir removed');
});

test('engine.sh: accuracy failure is flagged; ORT-only when frugal is missing', () => {
  let r = engine({ FRUGAL: path.join(BENCH, 'test/fake_frugal.js'), FAKE_FRUGAL_PERTURB: '1e-3', RESULTS: path.join(tmp, 'r2'), BATCHES: '1' },
    [path.join(tmp, 'mlp.onnx')]);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(rows(r.stdout)[0][6], /^1\.00e-3 FAIL$/);
  r = engine({ FRUGAL: path.join(tmp, 'no-such-frugal'), RESULTS: path.join(tmp, 'r3'), BATCHES: '1' }, [path.join(tmp, 'mlp.onnx')]);
  assert.strictEqual(r.status, 0, r.stderr);
  assert.match(r.stderr, /frugal CLI not found/);
  const row = rows(r.stdout)[0];
  assert.strictEqual(row[3], 'n/a'); assert.match(row[4], /^\d+\.\d$/);
});
