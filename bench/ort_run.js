#!/usr/bin/env node
'use strict';
// Peer runner: time one ONNX model with ONNX Runtime (onnxruntime-node, CPU EP).
//
//   node bench/ort_run.js MODEL.onnx [--batch B] [--threads T] [--repeat R]
//        [--warmup W] [--inputs DIR] [--outputs DIR] [--json]
//        [--no-spin] [--dim SYMBOL=N ...] [--int-range INPUT=LO:HI ...] [--seed S]
//
// Inputs: DIR/<name>.npy is used when present; any missing input is generated
// (seeded mulberry32 stream, inputs in session order) and written there, so a
// second engine can be fed the exact same bytes. See README.md.

const fs = require('fs');
const path = require('path');
const npy = require('./npy');

const USAGE = `usage: node bench/ort_run.js MODEL.onnx [--batch B] [--threads T] [--repeat R] [--warmup W]
       [--inputs DIR] [--outputs DIR] [--json] [--no-spin] [--dim SYMBOL=N]... [--int-range INPUT=LO:HI]... [--seed S]`;

class UsageError extends Error {}
// The model cannot run in the requested configuration (exit 3; engine.sh reports n/a).
class ConfigError extends Error {}

function parseArgs(argv) {
  const o = { batch: 1, threads: 1, repeat: 10, warmup: 2, seed: 1, json: false, spin: true, dims: {}, intRanges: {} };
  const num = (flag, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`${flag} needs an integer >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--batch': o.batch = num(a, val(), 1); break;
      case '--threads': o.threads = num(a, val(), 1); break;
      case '--repeat': o.repeat = num(a, val(), 1); break;
      case '--warmup': o.warmup = num(a, val(), 0); break;
      case '--seed': o.seed = num(a, val(), 0); break;
      case '--inputs': o.inputs = val(); break;
      case '--outputs': o.outputs = val(); break;
      case '--json': o.json = true; break;
      case '--no-spin': o.spin = false; break;
      case '--dim': {
        const m = /^(.+)=(\d+)$/.exec(val());
        if (!m) throw new UsageError('--dim needs SYMBOL=N');
        o.dims[m[1]] = num('--dim', m[2], 1);
        break;
      }
      case '--int-range': {
        const m = /^(.+)=(-?\d+):(-?\d+)$/.exec(val());
        if (!m || Number(m[3]) <= Number(m[2])) throw new UsageError('--int-range needs INPUT=LO:HI with HI > LO');
        o.intRanges[m[1]] = [Number(m[2]), Number(m[3])];
        break;
      }
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default:
        if (a.startsWith('-')) throw new UsageError(`unknown option ${a}`);
        if (o.model) throw new UsageError(`unexpected argument ${a}`);
        o.model = a;
    }
  }
  if (!o.model) throw new UsageError('missing MODEL.onnx');
  return o;
}

// mulberry32: tiny, well-known 32-bit PRNG; returns uint32s.
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const isDynamic = (d) => typeof d !== 'number' || d < 0;

// Resolve each input's shape: dim 0 dynamic -> batch; symbols seen at dim 0
// anywhere -> batch; other symbols need --dim.
function resolveShapes(meta, opts) {
  const batchSyms = new Set();
  for (const m of meta) if (m.shape.length && isDynamic(m.shape[0]) && typeof m.shape[0] === 'string' && m.shape[0] !== '') batchSyms.add(m.shape[0]);
  let anyBatchDim = false;
  const shapes = meta.map((m) => m.shape.map((d, axis) => {
    if (!isDynamic(d)) return d;
    if (typeof d === 'string' && d !== '' && opts.dims[d] !== undefined) {
      if (batchSyms.has(d) && opts.dims[d] !== opts.batch) throw new ConfigError(`--dim ${d}=${opts.dims[d]} conflicts with --batch ${opts.batch} (${d} is the batch dimension)`);
      return opts.dims[d];
    }
    if (axis === 0 || batchSyms.has(d)) { anyBatchDim = true; return opts.batch; }
    const label = typeof d === 'string' && d !== '' ? `'${d}'` : '(unnamed)';
    throw new ConfigError(`input '${m.name}' has dynamic dimension ${label} at axis ${axis} `
      + `(shape ${JSON.stringify(m.shape)}); only the batch dimension (axis 0) is filled in automatically`
      + (label === '(unnamed)' ? '' : `; pass --dim ${d}=N`));
  }));
  if (!anyBatchDim && meta.length) {
    const first = shapes[0];
    if (first.length === 0 || first[0] !== opts.batch) {
      throw new ConfigError(`model has no dynamic batch dimension (input '${meta[0].name}' shape ${JSON.stringify(meta[0].shape)}); `
        + `cannot run --batch ${opts.batch}`);
    }
  }
  return shapes;
}

// Integer range for a generated int input: --int-range wins, then a few
// name conventions (BERT-style token_type_ids / attention_mask), else [0,1000).
function intRange(name, opts) {
  if (opts.intRanges[name]) return { range: opts.intRanges[name], why: '--int-range' };
  if (/token_type|segment/i.test(name)) return { range: [0, 2], why: 'name: token type ids' };
  if (/mask/i.test(name)) return { range: [1, 2], why: 'name: attention mask (all ones)' };
  return { range: [0, 1000], why: 'default' };
}

function generate(dtype, shape, rand, name, opts) {
  const n = npy.numel(shape);
  const d = npy.DTYPES[dtype];
  if (!d) throw new Error(`input '${name}': cannot generate data of type ${dtype}`);
  const data = new d.Array(n);
  let note;
  if (dtype === 'float32' || dtype === 'float64') {
    // 24 random bits -> exactly representable in float32, strictly inside [-1, 1)
    for (let i = 0; i < n; i++) data[i] = ((rand() >>> 8) / 16777216) * 2 - 1;
    note = 'uniform[-1,1)';
  } else if (dtype === 'bool') {
    for (let i = 0; i < n; i++) data[i] = rand() & 1;
    note = 'uniform{0,1}';
  } else {
    let [lo, hi] = dtype === 'uint8' ? [0, 256] : dtype === 'int8' ? [-128, 128] : [0, 1000];
    let why = 'default';
    if (dtype === 'int64' || dtype === 'int32') ({ range: [lo, hi], why } = intRange(name, opts));
    const span = hi - lo;
    for (let i = 0; i < n; i++) {
      const v = lo + Math.floor((rand() / 4294967296) * span);
      data[i] = dtype === 'int64' ? BigInt(v) : v;
    }
    note = `uniform[${lo},${hi}) (${why})`;
  }
  return { tensor: { dtype, shape, data }, note };
}

function stats(times) {
  const s = [...times].sort((a, b) => a - b);
  const q = (p) => {
    const x = (s.length - 1) * p;
    const lo = Math.floor(x), hi = Math.ceil(x);
    return s[lo] + (s[hi] - s[lo]) * (x - lo);
  };
  const r = (v) => Math.round(v * 1e4) / 1e4;
  return {
    p50: r(q(0.5)), p99: r(q(0.99)), mean: r(s.reduce((a, b) => a + b, 0) / s.length),
    min: r(s[0]), max: r(s[s.length - 1]),
  };
}

function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    throw new Error(`cannot load onnxruntime-node (${e.message.split('\n')[0]}); run: cd bench && npm ci --ignore-scripts`);
  }
}

function ortVersion(ort) {
  try {
    const pj = path.join(path.dirname(require.resolve('onnxruntime-node')), '..', '..', 'package.json');
    const v = JSON.parse(fs.readFileSync(pj, 'utf8')).version;
    if (v) return v;
  } catch (_) { /* fall through */ }
  return (ort.env && ort.env.versions && ort.env.versions.node) || 'unknown';
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (...a) => { if (!opts.json) console.log(...a); };
  const warn = (msg) => process.stderr.write(`ort_run: ${msg}\n`);
  if (!fs.existsSync(opts.model)) throw new Error(`model not found: ${opts.model}`);
  const ort = loadOrt();
  const version = ortVersion(ort);

  const tLoad0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(opts.model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: opts.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    // ORT's intra-op pool spins while waiting for work by default; --no-spin turns that off.
    ...(opts.spin ? {} : { extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } } }),
  });
  const loadMs = Number(process.hrtime.bigint() - tLoad0) / 1e6;

  const meta = session.inputNames.map((name, i) => {
    const m = session.inputMetadata ? session.inputMetadata[i] : undefined;
    if (!m || !m.isTensor || !Array.isArray(m.shape)) throw new Error(`input '${name}': no tensor metadata (non-tensor input?)`);
    return { name, dtype: m.type, shape: m.shape };
  });
  const shapes = resolveShapes(meta, opts);

  if (opts.inputs) fs.mkdirSync(opts.inputs, { recursive: true });
  const rand = mulberry32(opts.seed);
  const feeds = {};
  const inputsInfo = [];
  meta.forEach((m, i) => {
    const shape = shapes[i];
    const file = opts.inputs ? path.join(opts.inputs, npy.safeName(m.name) + '.npy') : null;
    let t, source;
    if (file && fs.existsSync(file)) {
      t = npy.readNpy(file);
      if (t.dtype !== m.dtype || JSON.stringify(t.shape) !== JSON.stringify(shape)) {
        throw new Error(`${file}: has ${t.dtype}${JSON.stringify(t.shape)}, model wants ${m.dtype}${JSON.stringify(shape)} `
          + `at --batch ${opts.batch} (stale inputs? delete the directory to regenerate)`);
      }
      source = 'file';
    } else {
      const g = generate(m.dtype, shape, rand, m.name, opts);
      t = g.tensor;
      source = `generated ${g.note}`;
      if (file) npy.writeNpy(file, t);
    }
    feeds[m.name] = new ort.Tensor(m.dtype, t.data, shape);
    inputsInfo.push({ name: m.name, shape, dtype: m.dtype, source, ...(file ? { file } : {}) });
  });

  for (let i = 0; i < opts.warmup; i++) await session.run(feeds);
  const times = [];
  let result;
  for (let i = 0; i < opts.repeat; i++) {
    const t0 = process.hrtime.bigint();
    result = await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }

  if (opts.outputs) fs.mkdirSync(opts.outputs, { recursive: true });
  const outputs = session.outputNames.map((name) => {
    const t = result[name];
    const info = { name, shape: Array.from(t.dims), dtype: t.type };
    if (opts.outputs) {
      if (npy.DTYPES[t.type]) {
        info.file = path.join(opts.outputs, npy.safeName(name) + '.npy');
        npy.writeNpy(info.file, { dtype: t.type, shape: info.shape, data: t.data });
      } else {
        warn(`output '${name}' has type ${t.type}; not written`);
      }
    }
    return info;
  });

  const lat = stats(times);
  const report = {
    peer: 'onnxruntime-node',
    version,
    node: process.version,
    model: opts.model,
    batch: opts.batch,
    threads: opts.threads,
    spin: opts.spin,
    repeat: opts.repeat,
    warmup: opts.warmup,
    load_ms: Math.round(loadMs * 100) / 100,
    latency_ms: lat,
    items_per_s: Math.round((opts.batch * 1000 / lat.p50) * 100) / 100,
    inputs: inputsInfo,
    outputs,
  };
  if (opts.json) {
    process.stdout.write(JSON.stringify(report) + '\n');
  } else {
    log(`onnxruntime-node ${version} (${process.version}), ${opts.model}, batch ${opts.batch}, threads ${opts.threads}`);
    for (const x of inputsInfo) log(`  input  ${x.name} ${x.dtype}${JSON.stringify(x.shape)} ${x.source}`);
    for (const x of outputs) log(`  output ${x.name} ${x.dtype}${JSON.stringify(x.shape)}${x.file ? ' -> ' + x.file : ''}`);
    log(`  load ${report.load_ms} ms; ${opts.repeat} runs after ${opts.warmup} warmups: p50 ${lat.p50} ms, p99 ${lat.p99} ms, `
      + `mean ${lat.mean} ms, min ${lat.min} ms; ${report.items_per_s} items/s`);
  }
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`ort_run: error: ${e.message}\n`);
    if (e instanceof UsageError) process.stderr.write(USAGE + '\n');
    process.exit(e instanceof UsageError ? 2 : e instanceof ConfigError ? 3 : 1);
  });
}

module.exports = { mulberry32, resolveShapes, stats, parseArgs };
