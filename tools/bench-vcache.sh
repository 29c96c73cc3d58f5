#!/bin/sh
# bench-vcache.sh — builds a collection with LSH tables from three dev
# collections (npl, msmarco_dl19_passage_subset, dbpedia_entity_subset:
# 21,429 documents, ids prefixed with the collection's name so they never
# collide), embedded with USE-lite, then runs build/bench-vcache on it:
# "more like this" searches from LMDB against the in-memory vector cache.
# Writes bench/results/vcache.jsonl and vcache.md.
#
# Environment: BUILD (default build), SHARED (default ../shared),
# VCACHE_N (queries, default 1000). The collection is kept in
# $BUILD/vcache-work and reused while the corpus is unchanged.
set -eu
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
N=${VCACHE_N:-1000}
WORK=$BUILD/vcache-work
RESULTS=bench/results
mkdir -p "$WORK" "$RESULTS"

corpus=$WORK/corpus.jsonl
if [ ! -s "$corpus" ]; then
    : > "$corpus.tmp"
    for c in npl msmarco_dl19_passage_subset dbpedia_entity_subset; do
        jq -c --arg p "$c/" '{_id: ($p + (._id | tostring)), title: (.title // ""), text: (.text // "")}' \
            "$SHARED/data/ir/$c/corpus.jsonl" >> "$corpus.tmp"
    done
    mv "$corpus.tmp" "$corpus"
    rm -rf "$WORK/c.lctx"
fi
if [ ! -d "$WORK/c.lctx" ]; then
    echo "bench-vcache.sh: indexing $(wc -l < "$corpus") documents with USE-lite (minutes on 2 cores)" >&2
    "$BUILD/lctx-index" -c "$WORK/c.lctx" --embedder use-lite --format jsonl "$corpus" >&2
fi
# Queries: every 21st document id, a spread over all three collections.
jq -r '._id' "$corpus" | awk 'NR % 21 == 0' > "$WORK/ids.txt"
OPENBLAS_NUM_THREADS=1 "$BUILD/bench-vcache" --collection "$WORK/c.lctx" --ids "$WORK/ids.txt" --n "$N" --json \
    > "$RESULTS/vcache.jsonl"
jq -r -s '
  "# Collection vector search: LMDB against the vector cache\n",
  "Produced by `make bench-vcache` (tools/bench-vcache.sh): \(.[0].vectors) USE-lite vectors, \(.[0].lsh_tables) LSH tables, \(.[0].queries) more-like-this queries (k = \(.[0].k)), one thread, the two handles alternating.\n",
  "| path | p50 ms | p95 ms | q/s | cache build s | same answers |",
  "|---|---:|---:|---:|---:|---:|",
  (.[] | "| \(.method) | \(.p50_ms) | \(.p95_ms) | \(.qps) | \(.build_seconds // "–") | \(.same_answers // "–") |"),
  "",
  "p50 ratio (cache / LMDB): \((.[1].p50_ms / .[0].p50_ms * 100 | round) / 100)"
' "$RESULTS/vcache.jsonl" > "$RESULTS/vcache.md"
cat "$RESULTS/vcache.md"
