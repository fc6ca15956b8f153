'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { execFileSync } = require('child_process');
const npy = require('../npy');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-npy-'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const SAMPLES = [
  { dtype: 'float32', shape: [2, 3], data: Float32Array.from([0, -1.5, 2.25, 3e-8, -0, 1e30]) },
  { dtype: 'float64', shape: [3], data: Float64Array.from([Math.PI, -1, 1e-300]) },
  { dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([0n, -1n, 9007199254740993n, -9223372036854775808n]) },
  { dtype: 'int32', shape: [1, 3, 1], data: Int32Array.from([-2147483648, 0, 2147483647]) },
  { dtype: 'int8', shape: [2], data: Int8Array.from([-128, 127]) },
  { dtype: 'uint8', shape: [4], data: Uint8Array.from([0, 1, 128, 255]) },
  { dtype: 'bool', shape: [2, 1], data: Uint8Array.from([1, 0]) },
  { dtype: 'float32', shape: [], data: Float32Array.from([42]) },
  { dtype: 'float32', shape: [0, 5], data: new Float32Array(0) },
];

const same = (a, b) => {
  assert.strictEqual(a.dtype, b.dtype);
  assert.deepStrictEqual(a.shape, b.shape);
  assert.deepStrictEqual(Array.from(a.data), Array.from(b.data));
};

test('npy round trip, all dtypes, header aligned to 64 bytes', () => {
  for (const t of SAMPLES) {
    const buf = npy.encodeNpy(t);
    const hlen = buf.readUInt16LE(8);
    assert.strictEqual((10 + hlen) % 64, 0);
    assert.strictEqual(buf[10 + hlen - 1], 0x0a);
    same(npy.decodeNpy(buf), t);
  }
});

test('npy header format matches numpy conventions', () => {
  const h = (t) => { const b = npy.encodeNpy(t); return b.toString('latin1', 10, 10 + b.readUInt16LE(8)).trim(); };
  assert.strictEqual(h(SAMPLES[0]), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
  assert.strictEqual(h(SAMPLES[1]), "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }");
  assert.strictEqual(h(SAMPLES[7]), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
  assert.match(h(SAMPLES[2]), /'<i8'/);
  assert.match(h(SAMPLES[6]), /'\|b1'/);
});

test('npy rejects what it cannot read', () => {
  const good = npy.encodeNpy(SAMPLES[0]);
  assert.throws(() => npy.decodeNpy(Buffer.from('hello world!')), /bad magic/);
  assert.throws(() => npy.decodeNpy(good.subarray(0, good.length - 1)), /truncated/);
  const be = Buffer.from(good); be.write("'>f4'", be.indexOf("'<f4'"), 'latin1');
  assert.throws(() => npy.decodeNpy(be), /unsupported .npy dtype '>f4'/);
  const fo = Buffer.from(good); fo.write('True, ', fo.indexOf('False'), 'latin1');
  assert.throws(() => npy.decodeNpy(fo), /Fortran/);
});

test('npy v2.0 header is read', () => {
  const header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }".padEnd(51, ' ') + '\n';
  const pre = Buffer.alloc(12); pre[0] = 0x93; pre.write('NUMPY', 1, 'latin1'); pre[6] = 2; pre.writeUInt32LE(header.length, 8);
  const buf = Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(Int32Array.from([7, -7]).buffer)]);
  same(npy.decodeNpy(buf), { dtype: 'int32', shape: [2], data: Int32Array.from([7, -7]) });
});

test('TensorProto round trip: raw_data, typed fields, packed and unpacked dims', () => {
  for (const t of SAMPLES.filter((s) => s.shape.length > 0)) {
    for (const opts of [{}, { typedFields: true }, { unpackedDims: true, typedFields: true }]) {
      const back = npy.decodeTensorProto(npy.encodeTensorProto({ ...t, name: 'out/0' }, opts));
      same(back, t);
      assert.strictEqual(back.name, 'out/0');
    }
  }
});

test('TensorProto decoder on hand-made bytes (non-packed float_data, negative int32)', () => {
  const { encKey, encVarint } = npy._pb;
  const f32 = (x) => { const b = Buffer.alloc(4); b.writeFloatLE(x); return b; };
  const buf = Buffer.concat([
    encKey(1, 0), encVarint(2), // dims: 2 (unpacked)
    encKey(2, 0), encVarint(1), // FLOAT
    encKey(4, 5), f32(1.5), encKey(4, 5), f32(-2), // float_data, unpacked fixed32
    encKey(3, 2), encVarint(0), // segment (ignored, empty)
  ]);
  same(npy.decodeTensorProto(buf), { dtype: 'float32', shape: [2], data: Float32Array.from([1.5, -2]) });
  const i32 = Buffer.concat([encKey(1, 0), encVarint(3), encKey(2, 0), encVarint(6),
    encKey(5, 0), encVarint(-5), encKey(5, 0), encVarint(0), encKey(5, 0), encVarint(2147483647)]);
  same(npy.decodeTensorProto(i32), { dtype: 'int32', shape: [3], data: Int32Array.from([-5, 0, 2147483647]) });
  const bad = Buffer.concat([encKey(1, 0), encVarint(3), encKey(2, 0), encVarint(1), encKey(9, 2), encVarint(4), Buffer.alloc(4)]);
  assert.throws(() => npy.decodeTensorProto(bad), /raw_data has 4 bytes, expected 12/);
  assert.throws(() => npy.decodeTensorProto(Buffer.concat([encKey(2, 0), encVarint(10)])), /FLOAT16/);
});

test('readTensor dispatches on content; safeName', () => {
  const a = path.join(tmp, 'a.bin'), b = path.join(tmp, 'b.bin');
  npy.writeNpy(a, SAMPLES[2]);
  npy.writeTensorProto(b, SAMPLES[2]);
  same(npy.readTensor(a), SAMPLES[2]);
  same(npy.readTensor(b), SAMPLES[2]);
  assert.strictEqual(npy.safeName('logits/raw:0'), 'logits_raw_0');
  assert.strictEqual(npy.safeName('..'), '_..');
});

const TESTDATA = '/usr/share/libonnx-testdata/data';
test('reads ONNX test-data TensorProtos (libonnx-testdata)', { skip: !fs.existsSync(TESTDATA) && 'libonnx-testdata not installed' }, () => {
  const relu = npy.readTensorProto(path.join(TESTDATA, 'node/test_relu/test_data_set_0/input_0.pb'));
  const out = npy.readTensorProto(path.join(TESTDATA, 'node/test_relu/test_data_set_0/output_0.pb'));
  assert.strictEqual(relu.dtype, 'float32');
  assert.deepStrictEqual(relu.shape, [3, 4, 5]);
  assert.deepStrictEqual(Array.from(out.data), Array.from(relu.data, (x) => Math.max(x, 0)));
  const argmax = npy.readTensorProto(path.join(TESTDATA, 'node/test_argmax_default_axis_example/test_data_set_0/output_0.pb'));
  assert.strictEqual(argmax.dtype, 'int64');
});

const PY = '/usr/bin/python3';
const hasNumpy = (() => { try { execFileSync(PY, ['-c', 'import numpy'], { stdio: 'ignore' }); return true; } catch (_) { return false; } })();
test('numpy reads what we write and we read what numpy writes', { skip: !hasNumpy && 'no numpy' }, () => {
  const files = SAMPLES.map((t, i) => { const f = path.join(tmp, `s${i}.npy`); npy.writeNpy(f, t); return f; });
  const out = execFileSync(PY, ['-c', `
import sys, numpy as np
for f in sys.argv[1:]:
    a = np.load(f)
    print(a.dtype.str, list(a.shape), a.ravel().tolist())
    np.save(f + '.np.npy', a)
`, ...files], { encoding: 'utf8' }).trim().split('\n');
  SAMPLES.forEach((t, i) => {
    assert.ok(out[i].startsWith(npy.DTYPES[t.dtype].descr), `${out[i]} vs ${t.dtype}`);
    same(npy.readNpy(files[i] + '.np.npy'), t);
  });
});
