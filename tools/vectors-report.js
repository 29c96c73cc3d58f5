#!/usr/bin/env node
/*
 * vectors-report.js — turns bench/results/vectors.jsonl (one measurement per
 * line from bench-vectors and bench-vectors-peers) into a markdown table and
 * a gnuplot script for the recall@10 / queries-per-second plot.
 *
 * The summary answers the targets of docs/lsh.md directly: for every method,
 * the fastest setting that reaches recall@10 >= 0.90, its speed against
 * exact search, and lctx-lsh's speed against hnswlib at that recall.
 *
 * usage: node tools/vectors-report.js IN.jsonl OUT.md OUT.png > plot.gp
 */
'use strict';
const fs = require('fs');

function fmtBytes(b) { return (b / 1048576).toFixed(1) + ' MB'; }
function params(p) { return Object.entries(p).map(([k, v]) => `${k}=${v}`).join(' '); }

function bestAt(rows, method, recall) {
  let best = null;
  for (const r of rows)
    if (r.method === method && r.recall_at_10 >= recall && (!best || r.qps > best.qps)) best = r;
  return best;
}

function main(argv) {
  if (argv.length < 3) {
    process.stderr.write('usage: vectors-report.js IN.jsonl OUT.md OUT.png > plot.gp\n');
    return 2;
  }
  const [inPath, mdPath, pngPath] = argv;
  const rows = fs.readFileSync(inPath, 'utf8').split('\n').filter((l) => l.trim())
    .map((l) => JSON.parse(l));
  const methods = [...new Set(rows.map((r) => r.method))];

  const md = [];
  md.push('# Vector search: recall@10 against queries/second (single thread)', '');
  md.push('Produced by `make bench-vectors` (bench/vectors.mk); raw data in vectors.jsonl.', '');
  md.push('## Fastest setting reaching recall@10 >= 0.90', '');
  md.push('| method | params | recall@10 | q/s | vs exact (batch) | vs exact (1 query) | build s | memory |');
  md.push('|---|---|---|---|---|---|---|---|');
  const exB = rows.find((r) => r.method === 'exact-blas-batch');
  const ex1 = rows.find((r) => r.method === 'exact-blas-1q');
  for (const m of methods) {
    const b = bestAt(rows, m, 0.9);
    if (!b) { md.push(`| ${m} | (never reaches 0.90) | | | | | | |`); continue; }
    md.push(`| ${m} | ${params(b.params)} | ${b.recall_at_10.toFixed(4)} | ${b.qps.toFixed(0)} | ` +
      `${exB ? (b.qps / exB.qps).toFixed(1) + 'x' : ''} | ${ex1 ? (b.qps / ex1.qps).toFixed(1) + 'x' : ''} | ` +
      `${b.build_seconds.toFixed(1)} | ${fmtBytes(b.memory_bytes)} |`);
  }
  const lsh = bestAt(rows, 'lctx-lsh', 0.9), hn = bestAt(rows, 'hnswlib', 0.9);
  if (lsh && hn)
    md.push('', `lctx-lsh at recall >= 0.90 runs at ${(lsh.qps / hn.qps).toFixed(2)}x hnswlib's ` +
      `queries/second (target: >= 0.5x).`);
  md.push('', '## All measurements', '');
  md.push('| method | params | recall@10 | q/s | build s | memory | candidates |');
  md.push('|---|---|---|---|---|---|---|');
  for (const r of rows)
    md.push(`| ${r.method} | ${params(r.params)} | ${r.recall_at_10.toFixed(4)} | ${r.qps.toFixed(0)} | ` +
      `${r.build_seconds.toFixed(2)} | ${fmtBytes(r.memory_bytes)} | ${r.mean_candidates ?? ''} |`);
  fs.writeFileSync(mdPath, md.join('\n') + '\n');

  // gnuplot: one series per method (lctx-lsh split by K/L/encoding), log qps.
  const series = new Map();
  for (const r of rows) {
    let name = r.method;
    if (r.method === 'lctx-lsh')
      name += r.params.family === 'xp'
        ? ` xp F=${r.params.F} m=${r.params.m} L=${r.params.L} ${r.params.encoding}`
        : ` hp K=${r.params.K} L=${r.params.L} ${r.params.encoding}`;
    if (r.method === 'lctx-lsh' && r.params.max_candidates) name += ` cap ${r.params.max_candidates}`;
    if (r.method === 'faiss-lsh-refine') name += ` ${r.params.nbits} bits`;
    if (!series.has(name)) series.set(name, []);
    series.get(name).push([r.recall_at_10, r.qps]);
  }
  const gp = [];
  gp.push(`set terminal pngcairo size 1000,700 noenhanced`, `set output '${pngPath}'`);
  gp.push(`set title 'GloVe-100 (cosine), recall@10 vs queries/second, single thread'`);
  gp.push(`set xlabel 'recall@10'`, `set ylabel 'queries/second'`, 'set logscale y');
  gp.push('set grid', 'set key outside right top', 'set xrange [0.5:1.005]');
  const plots = [];
  let i = 0;
  for (const [name, pts] of series) {
    pts.sort((a, b) => a[0] - b[0]);
    gp.push(`$d${i} << EOD`, ...pts.map((p) => `${p[0]} ${p[1]}`), 'EOD');
    plots.push(`$d${i} using 1:2 with linespoints title '${name.replace(/'/g, '')}'`);
    i++;
  }
  gp.push('plot ' + plots.join(', \\\n     '));
  process.stdout.write(gp.join('\n') + '\n');
  return 0;
}

process.exitCode = main(process.argv.slice(2));
