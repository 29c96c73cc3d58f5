#!/bin/sh
# eval-prefix.sh — quality of prefix queries (word*) on the dev collections.
#
# The dev collections' queries are plain words, so `make eval` never
# exercises query/prefix.c. This script turns every query word of six or
# more letters into a prefix of N letters ("aerodynamic" -> "aer*" for
# N = 3) and scores the top 100 of each query with lctx-eval, so that
# changes to how a prefix's expansions are chosen or scored can be
# compared on judged data. The words are lower-cased and stripped of
# everything but a-z, on both the prefix and the plain side, so the
# plain row is the baseline the prefixes lose against.
#
# usage: tools/eval-prefix.sh [LCTX_BUILD_DIR]
#   prints one markdown row per collection: nDCG@10 of plain, 5, 4 and 3
# Environment: SHARED (default ../shared), COLLECTIONS (default: the ten).
# Needs jq. Works in a temporary folder under build/.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-$ROOT/build}
SHARED=${SHARED:-$ROOT/../shared}
COLLECTIONS=${COLLECTIONS:-"cranfield cisi cacm med npl lisa time adi msmarco_dl19_passage_subset dbpedia_entity_subset"}
WORK=$ROOT/build/eval-prefix
rm -rf "$WORK"
mkdir -p "$WORK"

# Queries of collection $1 with words of 6+ letters cut to $2 letters and a
# '*' ($2 = 0: left whole), one per line; their ids in $3.
make_queries() {
    jq -r '[._id, .text] | @tsv' "$SHARED/data/ir/$1/queries.jsonl" |
    awk -F '\t' -v n="$2" -v ids="$3" '{
        print $1 > ids
        m = split(tolower($2), w, /[^a-z]+/); out = ""
        for (i = 1; i <= m; i++) {
            if (w[i] == "") continue
            if (n > 0 && length(w[i]) >= 6) w[i] = substr(w[i], 1, n) "*"
            out = out (out == "" ? "" : " ") w[i]
        }
        print out
    }'
}

echo "| collection | plain | 5 letters | 4 letters | 3 letters |"
echo "|---|---:|---:|---:|---:|"
for c in $COLLECTIONS; do
    d=$SHARED/data/ir/$c
    "$BIN/lctx-index" -q -c "$WORK/$c.lctx" "$d/corpus.jsonl" >/dev/null
    row="| $c"
    for n in 0 5 4 3; do
        make_queries "$c" "$n" "$WORK/ids" >"$WORK/queries"
        "$BIN/lctx-search" -c "$WORK/$c.lctx" --mode bm25 --json -k 100 \
            <"$WORK/queries" >"$WORK/hits.jsonl"
        # One JSON line per query, in the order of the ids.
        [ "$(wc -l <"$WORK/hits.jsonl")" -eq "$(wc -l <"$WORK/ids")" ] ||
            { echo "$0: $c: one answer per query expected" >&2; exit 1; }
        jq -r '[.hits[].id] | @tsv' "$WORK/hits.jsonl" |
            paste "$WORK/ids" - |
            awk -F '\t' '{ for (i = 2; i <= NF; i++) if ($i != "")
                              print $1, "Q0", $i, i - 1, 1000 - i, "lctx" }' >"$WORK/run"
        ndcg=$("$BIN/lctx-eval" --json "$d/qrels/test.tsv" "$WORK/run" | jq -r '.ndcg_10')
        row="$row | $(printf '%.4f' "$ndcg")"
    done
    echo "$row |"
done
rm -rf "$WORK"
