'use strict';
// Minimal tensor file I/O for the benchmark harness (no dependencies).
//
//  * NumPy .npy (format v1.0 written; v1/v2/v3 read), little-endian, C order.
//    dtypes: float32 '<f4', float64 '<f8', int64 '<i8', int32 '<i4',
//            int8 '|i1', uint8 '|u1', bool '|b1'.
//  * ONNX TensorProto (.pb) via a hand-written protobuf decoder/encoder.
//    Fields used: dims=1 (repeated int64, packed or not), data_type=2,
//    float_data=4, int32_data=5, int64_data=7, name=8, raw_data=9,
//    double_data=10.
//
// A tensor is {dtype, shape: number[], data: TypedArray, name?}; int64 data is
// a BigInt64Array, bool data a Uint8Array (0/1), as onnxruntime-node expects.

const fs = require('fs');

const DTYPES = {
  float32: { descr: '<f4', size: 4, Array: Float32Array, onnx: 1 },
  uint8: { descr: '|u1', size: 1, Array: Uint8Array, onnx: 2 },
  int8: { descr: '|i1', size: 1, Array: Int8Array, onnx: 3 },
  int32: { descr: '<i4', size: 4, Array: Int32Array, onnx: 6 },
  int64: { descr: '<i8', size: 8, Array: BigInt64Array, onnx: 7 },
  bool: { descr: '|b1', size: 1, Array: Uint8Array, onnx: 9 },
  float64: { descr: '<f8', size: 8, Array: Float64Array, onnx: 11 },
};

// descr strings accepted on read ('=' and '<' are both little-endian here).
const DESCR_TO_DTYPE = {};
for (const [name, d] of Object.entries(DTYPES)) {
  DESCR_TO_DTYPE[d.descr] = name;
  DESCR_TO_DTYPE['=' + d.descr.slice(1)] = name;
  if (d.size === 1) DESCR_TO_DTYPE['<' + d.descr.slice(1)] = name;
  if (d.size === 1) DESCR_TO_DTYPE[d.descr.slice(1)] = name;
}
DESCR_TO_DTYPE['?'] = 'bool';
DESCR_TO_DTYPE['|?'] = 'bool';

const ONNX_TO_DTYPE = {};
for (const [name, d] of Object.entries(DTYPES)) ONNX_TO_DTYPE[d.onnx] = name;
const ONNX_TYPE_NAMES = {
  0: 'UNDEFINED', 1: 'FLOAT', 2: 'UINT8', 3: 'INT8', 4: 'UINT16', 5: 'INT16',
  6: 'INT32', 7: 'INT64', 8: 'STRING', 9: 'BOOL', 10: 'FLOAT16', 11: 'DOUBLE',
  12: 'UINT32', 13: 'UINT64', 14: 'COMPLEX64', 15: 'COMPLEX128', 16: 'BFLOAT16',
};

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('npy.js assumes a little-endian host');
}

function numel(shape) {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function dtypeInfo(dtype) {
  const d = DTYPES[dtype];
  if (!d) throw new Error(`unsupported dtype '${dtype}' (supported: ${Object.keys(DTYPES).join(', ')})`);
  return d;
}

// Copy `len` bytes at `off` of `buf` into a fresh, aligned typed array.
function typedFromBytes(dtype, buf, off, count) {
  const d = dtypeInfo(dtype);
  const out = new d.Array(count);
  new Uint8Array(out.buffer).set(buf.subarray(off, off + count * d.size));
  return out;
}

function bytesOf(data) {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

// File names for tensors: ONNX names may contain '/', ':' etc.
function safeName(name) {
  const s = String(name).replace(/[^A-Za-z0-9._-]/g, '_');
  return s === '' || s === '.' || s === '..' ? '_' + s : s;
}

// ---------------------------------------------------------------- .npy ----

function parseNpyHeader(text) {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) throw new Error(`bad .npy header: ${text.trim()}`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '')
    .map((s) => {
      const v = Number(s.replace(/L$/, ''));
      if (!Number.isInteger(v) || v < 0) throw new Error(`bad .npy shape: (${shape[1]})`);
      return v;
    });
  return { descr: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

function decodeNpy(buf, what = '<buffer>') {
  if (buf.length < 10 || buf[0] !== 0x93 || buf.toString('latin1', 1, 6) !== 'NUMPY') {
    throw new Error(`${what}: not a .npy file (bad magic)`);
  }
  const major = buf[6];
  let hlen, hstart;
  if (major === 1) { hlen = buf.readUInt16LE(8); hstart = 10; }
  else if (major === 2 || major === 3) { hlen = buf.readUInt32LE(8); hstart = 12; }
  else throw new Error(`${what}: unsupported .npy version ${major}.${buf[7]}`);
  const header = parseNpyHeader(buf.toString(major === 3 ? 'utf8' : 'latin1', hstart, hstart + hlen));
  const dtype = DESCR_TO_DTYPE[header.descr];
  if (!dtype) {
    throw new Error(`${what}: unsupported .npy dtype '${header.descr}' (need little-endian f4/f8/i8/i4/i1/u1/b1)`);
  }
  if (header.fortran && header.shape.length > 1) {
    throw new Error(`${what}: Fortran-order .npy is not supported; save with np.ascontiguousarray`);
  }
  const count = numel(header.shape);
  const off = hstart + hlen;
  const need = count * DTYPES[dtype].size;
  if (buf.length - off < need) throw new Error(`${what}: truncated .npy (${buf.length - off} data bytes, need ${need})`);
  return { dtype, shape: header.shape, data: typedFromBytes(dtype, buf, off, count) };
}

function encodeNpy({ dtype, shape, data }) {
  const d = dtypeInfo(dtype);
  if (!(data instanceof d.Array)) throw new Error(`data for ${dtype} must be a ${d.Array.name}`);
  if (data.length !== numel(shape)) throw new Error(`data length ${data.length} != numel(${JSON.stringify(shape)})`);
  const shapeStr = shape.length === 0 ? '()' : shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${d.descr}', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // Pad with spaces so that magic(6)+version(2)+len(2)+header, ending in '\n', is a multiple of 64.
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  if (header.length > 65535) throw new Error('.npy header too long for format 1.0');
  const pre = Buffer.alloc(10);
  pre[0] = 0x93; pre.write('NUMPY', 1, 'latin1'); pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), bytesOf(data)]);
}

function readNpy(file) { return decodeNpy(fs.readFileSync(file), file); }
function writeNpy(file, tensor) { fs.writeFileSync(file, encodeNpy(tensor)); }

// ------------------------------------------------------------ protobuf ----

// Varint as two uint32 halves (exact for the full 64-bit range).
function readVarint(buf, pos) {
  let lo = 0, hi = 0, shift = 0, b;
  do {
    if (pos >= buf.length) throw new Error('protobuf: truncated varint');
    b = buf[pos++];
    if (shift < 28) lo |= (b & 0x7f) << shift;
    else if (shift === 28) { lo |= (b & 0x0f) << 28; hi |= (b & 0x7f) >>> 4; }
    else if (shift < 64) hi |= (b & 0x7f) << (shift - 32);
    shift += 7;
    if (shift > 70) throw new Error('protobuf: varint too long');
  } while (b & 0x80);
  return { lo: lo >>> 0, hi: hi >>> 0, pos };
}
const vToBigInt = (v) => BigInt.asIntN(64, (BigInt(v.hi) << 32n) | BigInt(v.lo));
function vToNumber(v) {
  if (v.hi & 0x80000000) return -Number(-vToBigInt(v));
  if (v.hi >= 0x200000) throw new Error('protobuf: integer too large for a JS number');
  return v.hi * 4294967296 + v.lo;
}

// Calls fn(field, wireType, value, pos) for each field; value is a varint
// {lo,hi}, a Buffer (length-delimited), or a Buffer slice of 4/8 bytes.
function forEachField(buf, fn) {
  let pos = 0;
  while (pos < buf.length) {
    const key = readVarint(buf, pos);
    pos = key.pos;
    const field = (key.lo >>> 3) + key.hi * 536870912;
    const wt = key.lo & 7;
    let val;
    if (wt === 0) { const v = readVarint(buf, pos); pos = v.pos; val = v; }
    else if (wt === 1) { val = buf.subarray(pos, pos + 8); pos += 8; }
    else if (wt === 5) { val = buf.subarray(pos, pos + 4); pos += 4; }
    else if (wt === 2) {
      const l = readVarint(buf, pos);
      const len = vToNumber(l);
      pos = l.pos;
      if (pos + len > buf.length) throw new Error('protobuf: truncated length-delimited field');
      val = buf.subarray(pos, pos + len); pos += len;
    } else throw new Error(`protobuf: unsupported wire type ${wt} (field ${field})`);
    if (pos > buf.length) throw new Error('protobuf: truncated fixed-width field');
    fn(field, wt, val);
  }
}

function readPackedVarints(buf, out) {
  let pos = 0;
  while (pos < buf.length) { const v = readVarint(buf, pos); pos = v.pos; out.push(v); }
}

// --------------------------------------------------------- TensorProto ----

function decodeTensorProto(buf, what = '<buffer>') {
  const dims = [];
  let dataType = 0, name, raw = null, external = false;
  const floats = [], doubles = [], int32v = [], int64v = [];
  forEachField(buf, (field, wt, val) => {
    switch (field) {
      case 1: if (wt === 2) readPackedVarints(val, dims); else if (wt === 0) dims.push(val); break;
      case 2: if (wt === 0) dataType = val.lo; break;
      case 4:
        if (wt === 2) floats.push(typedFromBytes('float32', val, 0, val.length >> 2));
        else if (wt === 5) floats.push(typedFromBytes('float32', val, 0, 1));
        break;
      case 5: if (wt === 2) readPackedVarints(val, int32v); else if (wt === 0) int32v.push(val); break;
      case 7: if (wt === 2) readPackedVarints(val, int64v); else if (wt === 0) int64v.push(val); break;
      case 8: if (wt === 2) name = val.toString('utf8'); break;
      case 9: if (wt === 2) raw = val; break;
      case 10:
        if (wt === 2) doubles.push(typedFromBytes('float64', val, 0, val.length >> 3));
        else if (wt === 1) doubles.push(typedFromBytes('float64', val, 0, 1));
        break;
      case 14: if (wt === 0 && val.lo === 1) external = true; break; // data_location = EXTERNAL
      default: break; // segment, doc_string, external_data, ...: ignored
    }
  });
  if (external) throw new Error(`${what}: TensorProto with external data is not supported`);
  const dtype = ONNX_TO_DTYPE[dataType];
  if (!dtype) throw new Error(`${what}: unsupported TensorProto data_type ${dataType} (${ONNX_TYPE_NAMES[dataType] || '?'})`);
  const shape = dims.map(vToNumber);
  const count = numel(shape);
  const d = DTYPES[dtype];
  let data;
  if (raw) {
    if (raw.length !== count * d.size) {
      throw new Error(`${what}: raw_data has ${raw.length} bytes, expected ${count * d.size} for ${dtype}${JSON.stringify(shape)}`);
    }
    data = typedFromBytes(dtype, raw, 0, count);
  } else {
    data = new d.Array(count);
    let src;
    const concat = (chunks) => {
      let o = 0;
      for (const f of chunks) { if (o + f.length <= count) data.set(f, o); o += f.length; }
      return o;
    };
    if (dtype === 'float32') src = concat(floats);
    else if (dtype === 'float64') src = concat(doubles);
    else if (dtype === 'int64') {
      src = int64v.length;
      for (let i = 0; i < Math.min(count, src); i++) data[i] = vToBigInt(int64v[i]);
    } else {
      src = int32v.length; // int32, int8, uint8, bool all live in int32_data
      for (let i = 0; i < Math.min(count, src); i++) data[i] = int32v[i].lo | 0;
    }
    if (src !== count) throw new Error(`${what}: TensorProto has ${src} elements, expected ${count} for ${JSON.stringify(shape)}`);
  }
  const t = { dtype, shape, data };
  if (name !== undefined) t.name = name;
  return t;
}

function readTensorProto(file) { return decodeTensorProto(fs.readFileSync(file), file); }

// Encoder (used by tests and the fake frugal; writes dims packed + raw_data).
function encVarint(n) {
  let v = BigInt.asUintN(64, BigInt(n));
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v) b |= 0x80;
    out.push(b);
  } while (v);
  return Buffer.from(out);
}
const encKey = (field, wt) => encVarint((field << 3) | wt);
const encBytesField = (field, bytes) => Buffer.concat([encKey(field, 2), encVarint(bytes.length), bytes]);

function encodeTensorProto({ dtype, shape, data, name }, opts = {}) {
  const d = dtypeInfo(dtype);
  const parts = [];
  if (opts.unpackedDims) for (const x of shape) parts.push(encKey(1, 0), encVarint(x));
  else if (shape.length) parts.push(encBytesField(1, Buffer.concat(shape.map(encVarint))));
  parts.push(encKey(2, 0), encVarint(d.onnx));
  if (name !== undefined) parts.push(encBytesField(8, Buffer.from(name, 'utf8')));
  if (opts.typedFields && dtype === 'float32') parts.push(encBytesField(4, bytesOf(data)));
  else if (opts.typedFields && dtype === 'float64') parts.push(encBytesField(10, bytesOf(data)));
  else if (opts.typedFields && dtype === 'int64') parts.push(encBytesField(7, Buffer.concat(Array.from(data, encVarint))));
  else if (opts.typedFields) parts.push(encBytesField(5, Buffer.concat(Array.from(data, (x) => encVarint(x)))));
  else parts.push(encBytesField(9, bytesOf(data)));
  return Buffer.concat(parts);
}

function writeTensorProto(file, tensor, opts) { fs.writeFileSync(file, encodeTensorProto(tensor, opts)); }

// Read either format, by content.
function readTensor(file) {
  const buf = fs.readFileSync(file);
  if (buf.length >= 6 && buf[0] === 0x93 && buf.toString('latin1', 1, 6) === 'NUMPY') return decodeNpy(buf, file);
  return decodeTensorProto(buf, file);
}

module.exports = {
  DTYPES, numel, safeName,
  decodeNpy, encodeNpy, readNpy, writeNpy,
  decodeTensorProto, encodeTensorProto, readTensorProto, writeTensorProto,
  readTensor,
  // protobuf primitives, reused by the test model writer
  _pb: { readVarint, forEachField, encVarint, encKey, encBytesField, vToNumber, vToBigInt },
};
