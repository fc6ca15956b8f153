#!/usr/bin/env node
'use strict';
// Compare frugal's outputs with ONNX Runtime's.
//
//   node bench/compare.js FRUGAL_OUTDIR ORT_OUTDIR [--frugal-json FILE] [--ort-json FILE]
//                         [--tol 1e-4] [--json]
//
// FRUGAL_OUTDIR/output_K.pb (ONNX TensorProto; output_K.npy also accepted) is
// matched with ORT_OUTDIR/<name>.npy, where <name> is outputs[K].name from
// frugal's --json report (--frugal-json). Without it, the order comes from
// ort_run.js's report (--ort-json), else from the TensorProto name fields.
//
// Per output: max_abs = max|a-b|, max_rel = max_abs / max(max|b|, 1e-6), with
// b = ORT (the reference). Passes when max_rel <= tol for every output and all
// shapes match. Exit 0 pass, 1 mismatch, 2 usage or I/O error.

const fs = require('fs');
const path = require('path');
const npy = require('./npy');

const USAGE = 'usage: node bench/compare.js FRUGAL_OUTDIR ORT_OUTDIR [--frugal-json FILE] [--ort-json FILE] [--tol 1e-4] [--json]';

// a: candidate, b: reference. Returns {max_abs, max_rel, ref_max_abs, mismatches}.
function compareTensors(a, b) {
  if (a.data.length !== b.data.length) throw new Error(`element count ${a.data.length} != ${b.data.length}`);
  const big = typeof a.data[0] === 'bigint' || typeof b.data[0] === 'bigint';
  let maxAbs = 0, refMax = 0, nanMismatch = 0;
  for (let i = 0; i < a.data.length; i++) {
    const x = big ? Number(a.data[i]) : a.data[i];
    const y = big ? Number(b.data[i]) : b.data[i];
    const ay = Math.abs(y);
    if (ay > refMax && Number.isFinite(ay)) refMax = ay;
    let d;
    if (x === y || (Number.isNaN(x) && Number.isNaN(y))) d = 0;
    else d = Math.abs(x - y);
    if (Number.isNaN(d)) { d = Infinity; nanMismatch++; }
    if (d > maxAbs) maxAbs = d;
  }
  return { max_abs: maxAbs, max_rel: maxAbs / Math.max(refMax, 1e-6), ref_max_abs: refMax, nan_mismatches: nanMismatch };
}

function readJson(file) {
  try {
    const text = fs.readFileSync(file, 'utf8').trim();
    // tolerate log lines before the JSON object: use the last line that parses
    const lines = text.split('\n').reverse();
    for (const l of lines) { try { return JSON.parse(l); } catch (_) { /* next */ } }
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`${file}: cannot read JSON report (${e.message})`);
  }
}

function frugalFile(dir, k) {
  for (const ext of ['.pb', '.npy']) {
    const f = path.join(dir, `output_${k}${ext}`);
    if (fs.existsSync(f)) return f;
  }
  return null;
}

function compareDirs({ frugalDir, ortDir, frugalJson, ortJson, tol = 1e-4 }) {
  let names = null, namesFrom;
  if (frugalJson) {
    const j = readJson(frugalJson);
    if (!Array.isArray(j.outputs)) throw new Error(`${frugalJson}: no "outputs" array`);
    names = j.outputs.map((o) => o.name); namesFrom = 'frugal json';
  } else if (ortJson) {
    const j = readJson(ortJson);
    if (!Array.isArray(j.outputs)) throw new Error(`${ortJson}: no "outputs" array`);
    names = j.outputs.map((o) => o.name); namesFrom = 'ort json';
  }
  if (!names) {
    names = [];
    for (let k = 0; frugalFile(frugalDir, k); k++) names.push(undefined);
    namesFrom = 'tensor names';
    if (names.length === 0) throw new Error(`${frugalDir}: no output_0.pb`);
  }
  const results = [];
  for (let k = 0; k < names.length; k++) {
    const r = { index: k, name: names[k] };
    results.push(r);
    try {
      const ff = frugalFile(frugalDir, k);
      if (!ff) throw new Error(`missing ${path.join(frugalDir, `output_${k}.pb`)}`);
      const a = npy.readTensor(ff);
      if (r.name === undefined) {
        if (!a.name) throw new Error(`${ff} has no name field; pass --frugal-json or --ort-json`);
        r.name = a.name;
      } else if (a.name && a.name !== r.name) {
        r.warning = `TensorProto name '${a.name}' differs from report name '${r.name}'`;
      }
      const fb = path.join(ortDir, npy.safeName(r.name) + '.npy');
      if (!fs.existsSync(fb)) throw new Error(`missing ORT output ${fb}`);
      const b = npy.readNpy(fb);
      r.shape = b.shape; r.dtype = b.dtype;
      if (JSON.stringify(a.shape) !== JSON.stringify(b.shape)) {
        throw new Error(`shape ${JSON.stringify(a.shape)} (frugal) != ${JSON.stringify(b.shape)} (ORT)`);
      }
      if (a.dtype !== b.dtype) r.warning = `dtype ${a.dtype} (frugal) != ${b.dtype} (ORT)`;
      Object.assign(r, compareTensors(a, b));
      r.ok = r.max_rel <= tol && r.nan_mismatches === 0;
    } catch (e) {
      r.error = e.message; r.ok = false; r.max_abs = Infinity; r.max_rel = Infinity;
    }
  }
  const extra = frugalFile(frugalDir, names.length);
  const summary = {
    ok: results.every((r) => r.ok),
    tol,
    names_from: namesFrom,
    max_abs: Math.max(0, ...results.map((r) => r.max_abs)),
    max_rel: Math.max(0, ...results.map((r) => r.max_rel)),
    outputs: results,
  };
  if (extra) summary.warning = `extra frugal output file ${extra} not compared`;
  return summary;
}

// JSON.stringify turns Infinity into null; keep it readable.
function toJson(obj) {
  return JSON.stringify(obj, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
}

function main(argv) {
  const pos = [];
  const o = { tol: 1e-4, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) throw new Error(`${a} needs a value`); return argv[++i]; };
    if (a === '--frugal-json') o.frugalJson = val();
    else if (a === '--ort-json') o.ortJson = val();
    else if (a === '--tol') { o.tol = Number(val()); if (!(o.tol >= 0)) throw new Error('--tol needs a number >= 0'); }
    else if (a === '--json') o.json = true;
    else if (a === '-h' || a === '--help') { console.log(USAGE); return 0; }
    else if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
    else pos.push(a);
  }
  if (pos.length !== 2) throw new Error('need FRUGAL_OUTDIR and ORT_OUTDIR');
  const s = compareDirs({ frugalDir: pos[0], ortDir: pos[1], frugalJson: o.frugalJson, ortJson: o.ortJson, tol: o.tol });
  if (o.json) {
    console.log(toJson(s));
  } else {
    for (const r of s.outputs) {
      const what = r.error ? `ERROR ${r.error}`
        : `${r.dtype}${JSON.stringify(r.shape)} max_abs ${r.max_abs.toExponential(3)} max_rel ${r.max_rel.toExponential(3)}`;
      console.log(`${r.ok ? 'ok  ' : 'FAIL'} output_${r.index} ${r.name}: ${what}${r.warning ? ` (${r.warning})` : ''}`);
    }
    console.log(`${s.ok ? 'PASS' : 'FAIL'}: max_rel ${s.max_rel.toExponential(3)} (tol ${s.tol}), max_abs ${s.max_abs.toExponential(3)}`);
    if (s.warning) console.log(`warning: ${s.warning}`);
  }
  return s.ok ? 0 : 1;
}

if (require.main === module) {
  let rc;
  try { rc = main(process.argv.slice(2)); } catch (e) {
    process.stderr.write(`compare: error: ${e.message}\n${USAGE}\n`);
    rc = 2;
  }
  process.exitCode = rc;
}

module.exports = { compareTensors, compareDirs };
