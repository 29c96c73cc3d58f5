#!/usr/bin/env node
/*
 * vectors-report.js — turns bench/results/vectors.jsonl (one measurement per
 * line from bench-vectors and bench-vectors-peers) into a markdown table and
 * a gnuplot script for the recall@10 / queries-per-second plot.
 *
 * The summary answers the targets of docs/lsh.md directly: for every method,
 * the fastest setting that reaches recall@10 >= 0.90, its speed against
 * exact search; then lctx-lsh against hnswlib at the same recall, level by
 * level: at each recall level, the fastest setting of each that reaches it.
 * (Comparing each one's fastest setting above 0.90 would compare different
 * recalls: hnswlib's ef grid may first cross 0.90 at 0.94.)
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
  md.push('', '## lctx-lsh against hnswlib at the same recall', '');
  md.push('Target: lctx-lsh queries/second within 2x of hnswlib\'s (ratio >= 0.5) at the same recall@10.', '');
  md.push('| recall@10 >= | lctx-lsh q/s | lctx-lsh params (recall) | hnswlib q/s | hnswlib params (recall) | ratio | within 2x |');
  md.push('|---|---|---|---|---|---|---|');
  for (const level of [0.90, 0.92, 0.94, 0.95, 0.96, 0.97]) {
    const l = bestAt(rows, 'lctx-lsh', level), h = bestAt(rows, 'hnswlib', level);
    if (!l || !h) continue;
    const ratio = l.qps / h.qps;
    md.push(`| ${level.toFixed(2)} | ${l.qps.toFixed(0)} | ${params(l.params)} (${l.recall_at_10.toFixed(4)}) | ` +
      `${h.qps.toFixed(0)} | ${params(h.params)} (${h.recall_at_10.toFixed(4)}) | ${ratio.toFixed(2)} | ` +
      `${ratio >= 0.5 ? 'yes' : 'no'} |`);
  }
  md.push('', '## All measurements', '');
  md.push('| method | params | recall@10 | q/s | build s | memory | candidates |');
  md.push('|---|---|---|---|---|---|---|');
  for (const r of rows)
    md.push(`| ${r.method} | ${params(r.params)} | ${r.recall_at_10.toFixed(4)} | ${r.qps.toFixed(0)} | ` +
      `${r.build_seconds.toFixed(2)} | ${fmtBytes(r.memory_bytes)} | ${r.mean_candidates ?? ''} |`);
  fs.writeFileSync(mdPath, md.join('\n') + '\n');

  // gnuplot: one series per method; lctx-lsh's many settings are shown as
  // two Pareto frontiers (the best q/s at each recall), one per layout, so
  // the plot stays readable. The markdown table above keeps every point.
  const series = new Map();
  for (const r of rows) {
    let name = r.method;
    if (r.method === 'lctx-lsh')
      name += (r.params.layout && r.params.layout !== 'rows')
        ? ' (inline sketches, best settings)' : ' (row layout, best settings)';
    if (r.method === 'faiss-lsh-refine') name += ` ${r.params.nbits} bits`;
    if (!series.has(name)) series.set(name, []);
    series.get(name).push([r.recall_at_10, r.qps]);
  }
  for (const [name, pts] of series) {
    if (!name.startsWith('lctx-lsh')) continue;
    pts.sort((a, b) => b[0] - a[0] || b[1] - a[1]);
    const front = [];
    for (const p of pts)
      if (!front.length || p[1] > front[front.length - 1][1]) front.push(p);
    series.set(name, front);
  }
  const gp = [];
  gp.push(`set terminal pngcairo size 1000,700 noenhanced`, `set output '${pngPath}'`);
  gp.push(`set title 'GloVe-100 (cosine), recall@10 vs queries/second, single thread'`);
  gp.push(`set xlabel 'recall@10'`, `set ylabel 'queries/second'`, 'set logscale y');
  gp.push('set grid', 'set key bottom left', 'set xrange [0.5:1.005]');
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
