#!/bin/sh
# bench-cold.sh — indexing time of lctx and SQLite FTS5 when every build is
# the first of its process, as it is for a user running lctx-index.
#
# `make bench-bm25` builds each collection five times in one process and
# reports the median, which lands on the third build: the one where glibc's
# heap is still settling (docs/ARCHITECTURE.md, "Indexing: where a build's
# time goes"). This measures the other end: ROUNDS rounds, each starting a
# fresh process per engine per collection for one build, the two engines
# alternating so the machine's drift falls on both. It prints, per
# collection, the median build of each engine in ms and FTS5's time over
# lctx's (the docs/s ratio), then the median ratio over the collections.
#
# usage: tools/bench-cold.sh [ROUNDS]        (default 7)
# Environment: SHARED (default ../shared), COLLECTIONS, BUILD (default
# build). Needs build/bench-bm25 and build/bench-fts5 (make bench-bm25
# builds them) and jq.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=${1:-7}
SHARED=${SHARED:-$ROOT/../shared}
BUILD=${BUILD:-build}
COLLECTIONS=${COLLECTIONS:-"cranfield cisi cacm med npl lisa time adi msmarco_dl19_passage_subset dbpedia_entity_subset"}
WORK=$(mktemp -d /tmp/lctx-cold-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for c in $COLLECTIONS; do
    d=$SHARED/data/ir/$c
    : > "$WORK/$c.bm25"; : > "$WORK/$c.fts5"
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        for e in bm25 fts5; do
            rm -rf "$WORK/index"; mkdir -p "$WORK/index"
            OPENBLAS_NUM_THREADS=1 "$BUILD/bench-$e" --corpus "$d/corpus.jsonl" \
                --queries "$d/queries.jsonl" --index "$WORK/index" --run "$WORK/run.trec" \
                --builds 1 --repeat 1 --collection "$c" 2>/dev/null | tail -1 |
                jq -r '.index_seconds * 1000' >> "$WORK/$c.$e"
        done
        r=$((r + 1))
    done
    l=$(median < "$WORK/$c.bm25"); f=$(median < "$WORK/$c.fts5")
    echo "$c $l $f" | awk '{ printf "%-30s lctx %7.1f ms  FTS5 %7.1f ms  lctx/FTS5 docs/s %.2f\n", $1, $2, $3, $3 / $2 }'
    echo "$f $l" | awk '{ print $1 / $2 }' >> "$WORK/ratios"
done
printf 'median lctx/FTS5 over the collections: %.2f\n' "$(median < "$WORK/ratios")"
