#!/bin/sh
# bench-compact.sh — runs build/bench-compact on three dev collections and
# writes bench/results/compact.jsonl and compact.md (make bench-compact).
set -eu
BUILD=${BUILD:-build}
SHARED=${SHARED:-../shared}
ROUNDS=${ROUNDS:-7}
OUT=bench/results
WORK=$(mktemp -d "${TMPDIR:-/tmp}/lctx-bench-compact.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export OPENBLAS_NUM_THREADS=1
: > "$OUT/compact.jsonl"
for c in cranfield msmarco_dl19_passage_subset lisa; do
    d="$SHARED/data/ir/$c"
    rm -rf "$WORK/c"
    "$BUILD/bench-compact" --corpus "$d/corpus.jsonl" --queries "$d/queries.jsonl" \
        --dir "$WORK/c" --rounds "$ROUNDS" --json > "$WORK/line"
    cat "$WORK/line" >> "$OUT/compact.jsonl"
done
python3 - "$OUT/compact.jsonl" > "$OUT/compact.md" <<'PY'
import json, sys, subprocess, datetime
rows = [json.loads(l) for l in open(sys.argv[1])]
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                        text=True).stdout.strip()
print("# Compaction with and without renumbering ids\n")
print(f"- date: {datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%M:%SZ')}; commit {commit}")
print("- method: bench/bench-compact.c. Each round indexes the collection, deletes every "
      "other document and compacts, with renumbering forced (a test hook) or not, the two "
      "alternating; the compaction alone is timed, median of the rounds. Answers (ids and "
      "scores of every query's top 10) are compared between the two.\n")
print("| collection | docs | deleted | plain ms | renumbering ms | ratio | same answers |")
print("|---|---:|---:|---:|---:|---:|:---:|")
for r in rows:
    print(f"| {r['collection']} | {r['docs']} | {r['deleted']} | {r['plain_ms']:.1f} | "
          f"{r['renumber_ms']:.1f} | {r['ratio']:.2f} | {'yes' if r['same_answers'] else 'NO'} |")
PY
cat "$OUT/compact.md"
