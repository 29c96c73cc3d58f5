#!/bin/sh
# bench-ab.sh — indexing time of two lctx revisions, against SQLite FTS5, in
# interleaved rounds.
#
# One run of `make bench-bm25` moves by about 0.1 in its median lctx/FTS5
# ratio on the shared development machine, which is as much as most single
# changes to the write path are worth. Comparing two revisions therefore
# takes several rounds in which both run back to back on every collection,
# in alternating order, with FTS5 beside them, so that the machine's drift
# falls on all three alike. Each program call reports the median of BUILDS
# builds (as bench-bm25 does); this script prints, per collection, the
# median of those over the rounds, in ms, and each revision's ratio to
# FTS5, then the median ratio over the collections.
#
# usage: tools/bench-ab.sh OLD_REV NEW_REV [ROUNDS]
#   e.g. tools/bench-ab.sh HEAD~3 HEAD 10
# Environment: SHARED (default ../shared), COLLECTIONS, BUILDS (default 5).
# Builds each revision's bench-bm25 in a temporary git worktree under
# build/ab/, FTS5's program from the working tree. Needs jq.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 OLD_REV NEW_REV [ROUNDS]" >&2; exit 2; }
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
ROUNDS=${3:-10}
SHARED=${SHARED:-$ROOT/../shared}
BUILDS=${BUILDS:-5}
COLLECTIONS=${COLLECTIONS:-"cranfield cisi cacm med npl lisa time adi msmarco_dl19_passage_subset dbpedia_entity_subset"}
WORK=$ROOT/build/ab
mkdir -p "$WORK"
export OPENBLAS_NUM_THREADS=1   # as in bench-bm25.sh

# build_rev REV NAME: build/ab/bench-bm25-NAME from revision REV.
build_rev() {
    tree=$WORK/tree-$2
    rm -rf "$tree"
    git worktree prune   # a tree left by an interrupted run
    git worktree add -q --detach "$tree" "$1"
    make -s -C "$tree" build/bench-bm25 >/dev/null
    cp "$tree/build/bench-bm25" "$WORK/bench-bm25-$2"
    git worktree remove --force "$tree"
}
build_rev "$1" old
build_rev "$2" new
make -s build/bench-fts5 >/dev/null
cp build/bench-fts5 "$WORK/bench-fts5"

OUT=$WORK/rounds.txt
: > "$OUT"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    progs="old new fts5"
    [ $((r % 2)) = 0 ] && progs="fts5 new old"
    for c in $COLLECTIONS; do
        d=$SHARED/data/ir/$c
        for p in $progs; do
            prog=$WORK/bench-bm25-$p
            [ "$p" = fts5 ] && prog=$WORK/bench-fts5
            rm -rf "$WORK/index"
            # Read the result once the program has ended: a reader started
            # beside it (a pipe into jq) takes CPU inside its first build.
            "$prog" --corpus "$d/corpus.jsonl" --queries "$d/queries.jsonl" --index "$WORK/index" \
                --run "$WORK/run.trec" --repeat 1 --builds "$BUILDS" --collection "$c" \
                > "$WORK/line.json" 2>/dev/null
            s=$(tail -n 1 "$WORK/line.json" | jq -r .index_seconds)
            echo "$c $p $s" >> "$OUT"
        done
    done
    r=$((r + 1))
done
rm -rf "$WORK/index" "$WORK/run.trec" "$WORK/line.json"

# mid: the median of the numbers on stdin, one a line.
mid() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# median C P: median over the rounds of collection C, program P, in ms.
median() {
    awk -v c="$1" -v p="$2" '$1 == c && $2 == p && $3 != "null" { print $3 * 1000 }' "$OUT" | mid
}
echo "| collection | FTS5 ms | old ms | new ms | old/FTS5 | new/FTS5 |"
echo "|---|---:|---:|---:|---:|---:|"
for c in $COLLECTIONS; do
    f=$(median "$c" fts5); o=$(median "$c" old); n=$(median "$c" new)
    echo "$c $f $o $n" | awk '{ printf "| %s | %.1f | %.1f | %.1f | %.2f | %.2f |\n", $1, $2, $3, $4, $2 / $3, $2 / $4 }'
done | tee "$WORK/table.md"
# the ratio columns of the table: fields 6 (old) and 7 (new) split on '|'
echo "median old/FTS5: $(awk -F'|' '{ print $6 + 0 }' "$WORK/table.md" | mid)"
echo "median new/FTS5: $(awk -F'|' '{ print $7 + 0 }' "$WORK/table.md" | mid)"
