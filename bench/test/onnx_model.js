'use strict';
// Tiny ONNX ModelProto writer, for tests only (builds models in a temp dir).
const { encodeTensorProto, _pb } = require('../npy');
const { encVarint, encKey, encBytesField } = _pb;

const ELEM = { float32: 1, uint8: 2, int8: 3, int32: 6, int64: 7, bool: 9, float64: 11 };
const str = (f, s) => encBytesField(f, Buffer.from(s, 'utf8'));
const msg = (f, parts) => encBytesField(f, Buffer.concat(parts));
const int = (f, v) => Buffer.concat([encKey(f, 0), encVarint(v)]);

// dims: numbers (static) or strings (symbolic dim_param)
function valueInfo(field, { name, dtype, dims }) {
  const dimMsgs = dims.map((d) => msg(1, [typeof d === 'number' ? int(1, d) : str(2, d)]));
  const tensorType = msg(1, [int(1, ELEM[dtype]), msg(2, dimMsgs)]);
  return msg(field, [str(1, name), msg(2, [tensorType])]);
}

function attribute({ name, i, ints }) {
  if (i !== undefined) return msg(5, [str(1, name), int(3, i), int(20, 2)]);
  return msg(5, [str(1, name), ...ints.map((v) => int(8, v)), int(20, 7)]);
}

function node({ op, inputs, outputs, attrs = [], name }) {
  return msg(1, [
    ...inputs.map((s) => str(1, s)),
    ...outputs.map((s) => str(2, s)),
    str(3, name || `${op}_${outputs[0]}`),
    str(4, op),
    ...attrs.map(attribute),
  ]);
}

function makeModel({ inputs, outputs, nodes, initializers = [], opset = 13 }) {
  const graph = [
    ...nodes.map(node),
    str(2, 'test_graph'),
    ...initializers.map((t) => encBytesField(5, encodeTensorProto(t))),
    ...inputs.map((v) => valueInfo(11, v)),
    ...outputs.map((v) => valueInfo(12, v)),
  ];
  return Buffer.concat([
    int(1, 8), // ir_version
    str(2, 'frugal-bench-test'),
    msg(7, graph),
    msg(8, [str(1, ''), int(2, opset)]),
  ]);
}

function lcg(seed) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296 - 0.5; };
}
function randF32(n, seed) { const r = lcg(seed); return Float32Array.from({ length: n }, r); }

const MODELS = {
  // x[N,8] -> MatMul W -> Add b ("logits/raw") -> Relu ("y")
  mlp: () => makeModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 8] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 4] }, { name: 'logits/raw', dtype: 'float32', dims: ['N', 4] }],
    initializers: [
      { name: 'W', dtype: 'float32', shape: [8, 4], data: randF32(32, 7) },
      { name: 'b', dtype: 'float32', shape: [4], data: randF32(4, 9) },
    ],
    nodes: [
      { op: 'MatMul', inputs: ['x', 'W'], outputs: ['mm'] },
      { op: 'Add', inputs: ['mm', 'b'], outputs: ['logits/raw'] },
      { op: 'Relu', inputs: ['logits/raw'], outputs: ['y'] },
    ],
  }),
  // ids int64 [batch,5] (Gather into E[1000,3]) + x float [batch,5,3] -> y; also ArgMax (int64 output)
  embed: () => makeModel({
    inputs: [{ name: 'input_ids', dtype: 'int64', dims: ['batch', 5] }, { name: 'x', dtype: 'float32', dims: ['batch', 5, 3] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['batch', 5, 3] }, { name: 'am', dtype: 'int64', dims: ['batch', 5] }],
    initializers: [{ name: 'E', dtype: 'float32', shape: [1000, 3], data: randF32(3000, 3) }],
    nodes: [
      { op: 'Gather', inputs: ['E', 'input_ids'], outputs: ['g'] },
      { op: 'Add', inputs: ['g', 'x'], outputs: ['y'] },
      { op: 'ArgMax', inputs: ['y'], outputs: ['am'], attrs: [{ name: 'axis', i: 2 }, { name: 'keepdims', i: 0 }] },
    ],
  }),
  // second dim symbolic too -> ort_run.js must refuse without --dim
  seq: () => makeModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: ['N', 'S'] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: ['N', 'S'] }],
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
  }),
  // static batch 1
  fixed: () => makeModel({
    inputs: [{ name: 'x', dtype: 'float32', dims: [1, 4] }],
    outputs: [{ name: 'y', dtype: 'float32', dims: [1, 4] }],
    nodes: [{ op: 'Relu', inputs: ['x'], outputs: ['y'] }],
  }),
};

module.exports = { makeModel, MODELS };

if (require.main === module) {
  // node test/onnx_model.js OUTDIR : writes every test model as OUTDIR/NAME.onnx
  const fs = require('fs');
  const path = require('path');
  const dir = process.argv[2];
  if (!dir) { console.error('usage: node test/onnx_model.js OUTDIR'); process.exit(2); }
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, fn] of Object.entries(MODELS)) fs.writeFileSync(path.join(dir, name + '.onnx'), fn());
}
