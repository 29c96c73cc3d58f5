#!/bin/bash
# bench-scale.sh — lctx against SQLite FTS5 on a corpus of millions of
# documents: indexing throughput, index size and query latency.
#
# `make bench-bm25` indexes each dev collection alone, a few thousand
# documents, where opening a new index and making it durable is much of
# what is timed, and the union of the ten, 35,030 documents. A user with a
# real corpus indexes far more. This builds one corpus of the ten dev
# collections' documents, COPIES times over with fresh ids (170 copies:
# 5.96 million documents, 3.2 GB of JSONL), and gives it to the same two
# programs bench-bm25 uses (build/bench-bm25, build/bench-fts5: the same
# harness, timing from opening the empty index to closing it after its
# durable commit, JSON parsing excluded), one build each, ROUNDS rounds in
# alternating order. Queries: QUERIES of each collection's queries (FTS5
# takes seconds a query at this size), each timed once, k = 10.
#
# usage: tools/bench-scale.sh [COPIES] [ROUNDS]   (defaults 170, 1)
# Environment: SHARED (default ../shared), QUERIES (default 2 per
# collection). Needs about 4 × the corpus in free disk (the corpus, both
# indexes). Writes bench/results/scale.md and scale.jsonl.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COPIES=${1:-170}
ROUNDS=${2:-1}
QUERIES=${QUERIES:-2}
SHARED=${SHARED:-$ROOT/../shared}
COLLECTIONS="cranfield cisi cacm med npl lisa time adi msmarco_dl19_passage_subset dbpedia_entity_subset"
WORK=$ROOT/build/scale
export OPENBLAS_NUM_THREADS=1   # as in bench-bm25.sh
make -s build/bench-bm25 build/bench-fts5 >/dev/null
mkdir -p "$WORK"

CORPUS=$WORK/corpus-$COPIES.jsonl
QFILE=$WORK/queries-$QUERIES.jsonl
if [ ! -s "$CORPUS" ] || [ ! -s "$QFILE" ]; then
    echo "bench-scale.sh: writing $COPIES copies of the ten collections" >&2
    python3 - "$SHARED/data/ir" "$COPIES" "$CORPUS" "$QUERIES" "$QFILE" $COLLECTIONS <<'EOF'
import json, os, sys
base, copies, out, nq, qout = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
docs, queries = [], []
for name in sys.argv[6:]:
    for line in open(os.path.join(base, name, "corpus.jsonl"), encoding="utf-8"):
        d = json.loads(line)
        docs.append({"_id": f"{name}:{d['_id']}", "title": d.get("title", ""),
                     "text": d.get("text", "")})
    qs = [json.loads(l) for l in open(os.path.join(base, name, "queries.jsonl"), encoding="utf-8")]
    for q in qs[:nq]:
        queries.append({"_id": f"{name}:{q['_id']}", "text": q["text"]})
with open(out, "w", encoding="utf-8") as f:
    for r in range(copies):
        for d in docs:
            f.write(json.dumps(dict(d, _id=f"{r}:{d['_id']}"), ensure_ascii=False) + "\n")
with open(qout, "w", encoding="utf-8") as f:
    for q in queries:
        f.write(json.dumps(q, ensure_ascii=False) + "\n")
EOF
fi
DOCS=$(wc -l < "$CORPUS")
MB=$(( $(stat -c %s "$CORPUS") / 1000000 ))

# one METHOD: one build and the queries; prints the harness's JSON line.
one() {
    local bin=$ROOT/build/bench-bm25 dir=$WORK/index-$1
    [ "$1" = fts5 ] && bin=$ROOT/build/bench-fts5
    rm -rf "$dir" "$WORK/$1.trec"
    "$bin" --corpus "$CORPUS" --queries "$QFILE" --index "$dir" --run "$WORK/$1.trec" \
        --repeat 1 --builds 1 --collection "scale-$COPIES" 2>>"$WORK/$1.log" | tail -1
    rm -rf "$dir"
}

JL=bench/results/scale.jsonl
: > "$JL"
for r in $(seq 1 "$ROUNDS"); do
    order="lctx fts5"
    [ $((r % 2)) -eq 0 ] && order="fts5 lctx"
    for m in $order; do
        line=$(one "$m")
        echo "$line" >> "$JL"
        echo "bench-scale.sh: round $r, $m: $(echo "$line" | jq -r '"\(.index_seconds) s"')" >&2
    done
done

median() { sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
field() { jq -r "select(.method == \"$1\") | .$2" "$JL" | median; }
LS=$(field lctx index_seconds)
FS=$(field fts5 index_seconds)
{
    echo "# lctx and SQLite FTS5 on millions of documents"
    echo
    echo "- date: $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD)"
    echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(nproc) CPUs"
    echo "- corpus: the ten dev collections' documents, $COPIES copies with fresh ids: $DOCS documents, $MB MB of JSONL, one batch"
    echo "- method: tools/bench-scale.sh, the harness of \`make bench-bm25\` (bench/bm25_common.h) with one build per round, $ROUNDS round(s) in alternating order, medians; $(wc -l < "$QFILE") queries ($QUERIES of each collection's), each timed once, k = 10"
    echo
    echo "| engine | index s | docs/s | lctx/engine docs/s | index GB | query p50 ms | query p95 ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for m in lctx fts5; do
        s=$(field "$m" index_seconds)
        echo "| $m | $s | $(awk "BEGIN{printf \"%.0f\", $DOCS / $s}") |" \
             "$(awk "BEGIN{printf \"%.2f\", $s / $LS}") |" \
             "$(awk "BEGIN{printf \"%.2f\", $(field "$m" index_bytes) / 1e9}") |" \
             "$(field "$m" query_p50_ms) | $(field "$m" query_p95_ms) |"
    done
    echo
    echo "Indexing: lctx $(awk "BEGIN{printf \"%.2f\", $FS / $LS}")× FTS5's documents per second."
} > bench/results/scale.md
cat bench/results/scale.md
