#!/usr/bin/env node
'use strict';
// Stand-in for the frugal CLI, for testing engine.sh / compare.js without it:
//   fake_frugal.js run MODEL.onnx --input NAME=FILE.npy ... --batch B --threads T
//                  --repeat R --warmup W --output DIR --json
// Runs the model with onnxruntime-node, writes DIR/output_K.pb (TensorProto)
// and prints frugal's JSON report. FAKE_FRUGAL_PERTURB=x adds x*|y|max noise
// to float outputs (to exercise the tolerance check).
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const npy = require('../npy');
const { stats } = require('../ort_run');

async function main(argv) {
  if (argv[0] !== 'run') throw new Error('usage: fake_frugal.js run MODEL ...');
  const o = { inputs: {}, batch: 1, threads: 1, repeat: 1, warmup: 0 };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--input') { const [n, f] = argv[++i].split('='); o.inputs[n] = f; }
    else if (a === '--batch') o.batch = +argv[++i];
    else if (a === '--threads') o.threads = +argv[++i];
    else if (a === '--repeat') o.repeat = +argv[++i];
    else if (a === '--warmup') o.warmup = +argv[++i];
    else if (a === '--output') o.output = argv[++i];
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown option ${a}`);
  }
  const s = await ort.InferenceSession.create(argv[1], { intraOpNumThreads: o.threads, interOpNumThreads: 1 });
  const feeds = {};
  for (const name of s.inputNames) {
    if (!o.inputs[name]) throw new Error(`missing --input ${name}=FILE`);
    const t = npy.readNpy(o.inputs[name]);
    feeds[name] = new ort.Tensor(t.dtype, t.data, t.shape);
  }
  for (let i = 0; i < o.warmup; i++) await s.run(feeds);
  const times = [];
  let res;
  for (let i = 0; i < o.repeat; i++) {
    const t0 = process.hrtime.bigint();
    res = await s.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const perturb = Number(process.env.FAKE_FRUGAL_PERTURB || 0);
  if (o.output) fs.mkdirSync(o.output, { recursive: true });
  const outputs = s.outputNames.map((name, k) => {
    const t = res[name];
    let data = t.data;
    if (perturb && t.type === 'float32') {
      data = Float32Array.from(data);
      const m = data.reduce((acc, v) => Math.max(acc, Math.abs(v)), 0);
      data[0] += perturb * m;
    }
    if (o.output) npy.writeTensorProto(path.join(o.output, `output_${k}.pb`), { dtype: t.type, shape: Array.from(t.dims), data, name });
    return { name, shape: Array.from(t.dims), dtype: t.type };
  });
  process.stdout.write(JSON.stringify({ latency_ms: stats(times), outputs }) + '\n');
}

main(process.argv.slice(2)).catch((e) => { process.stderr.write(`fake_frugal: ${e.message}\n`); process.exit(1); });
