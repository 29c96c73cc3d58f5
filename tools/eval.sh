#!/bin/sh
# eval.sh — retrieval quality of lctx on the IR dev collections.
#
#   tools/eval.sh [--build DIR] [--shared DIR] [--collections "a b ..."] [MODE...]
#
# For each collection (BEIR layout under SHARED/data/ir/NAME: corpus.jsonl,
# queries.jsonl, qrels/test.tsv) it indexes the corpus into
# BUILD/eval/NAME.lctx, runs every query through lctx-search in batch mode
# with --qrels, and reports nDCG@10, Recall@100 and MRR@10 (computed as
# trec_eval does; see cli/treceval.c). MODEs are bm25, vector and hybrid
# (default: all three). When any MODE other than bm25 is asked for, each
# collection is indexed once with an embedder ($LCTX_EVAL_EMBEDDER, default
# use-lite) into BUILD/eval/NAME-EMBEDDER.lctx and every mode runs on that
# one index (BM25 over it is the same as over a keyword-only index).
# $LCTX_EVAL_SEARCH_ARGS is passed to lctx-search (e.g. "--fusion rrf").
#
# An index is rebuilt only when it is missing or older than lctx-index or
# the corpus (a stamp file records when it was built), so re-running after a
# query-side change costs only the queries.
#
# Output: a markdown table on stdout, bench/results/eval.md (one table per
# mode) and bench/results/eval.jsonl (one line per collection and mode; a
# run replaces the lines of the pairs it measured and keeps the others, so
# bm25 and hybrid results sit side by side and a partial run loses nothing). Runs are kept in BUILD/eval/NAME.MODE.trec
# for scoring with lctx-eval or trec_eval.
set -eu

BUILD=build
SHARED=../shared
COLLECTIONS="cranfield cisi cacm med npl lisa time adi msmarco_dl19_passage_subset dbpedia_entity_subset"
MODES=""
RESULTS=bench/results

while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --shared) SHARED=$2; shift 2 ;;
    --collections) COLLECTIONS=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "eval.sh: unknown option $1" >&2; exit 2 ;;
    *) MODES="$MODES $1"; shift ;;
    esac
done
[ -n "$MODES" ] || MODES="bm25 vector hybrid"
for MODE in $MODES; do
    case "$MODE" in
    bm25|vector|hybrid) ;;
    *) echo "eval.sh: MODE must be bm25, vector or hybrid, not $MODE" >&2; exit 2 ;;
    esac
done

INDEX=$BUILD/lctx-index
SEARCH=$BUILD/lctx-search
IR=$SHARED/data/ir
for p in "$INDEX" "$SEARCH"; do
    [ -x "$p" ] || { echo "eval.sh: $p is not built (make cli)" >&2; exit 1; }
done
[ -d "$IR" ] || { echo "eval.sh: no collections at $IR (set SHARED=...)" >&2; exit 1; }

EMBED_ARGS=""
SUFFIX=""
if [ "$MODES" != " bm25" ] && [ "$MODES" != "bm25" ]; then
    EMB=${LCTX_EVAL_EMBEDDER:-use-lite}
    EMBED_ARGS="--embedder $EMB"
    SUFFIX="-$(printf '%s' "$EMB" | tr -c 'A-Za-z0-9_.\n-' '_')"
fi

mkdir -p "$BUILD/eval" "$RESULTS"
NEW=$BUILD/eval/eval.jsonl.new
: > "$NEW"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
# Value of a numeric or string key in a one-line JSON object (our own output).
jnum() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" | head -n 1; }

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)

printf '| collection | mode | docs | queries | nDCG@10 | Recall@100 | MRR@10 |\n'
printf '|---|---|---:|---:|---:|---:|---:|\n'
failed=0
for name in $COLLECTIONS; do
    dir=$IR/$name
    if [ ! -f "$dir/corpus.jsonl" ] || [ ! -f "$dir/queries.jsonl" ] || [ ! -f "$dir/qrels/test.tsv" ]; then
        echo "eval.sh: $name: missing corpus, queries or qrels under $dir; skipped" >&2
        continue
    fi
    coll=$BUILD/eval/$name$SUFFIX.lctx
    stamp=$coll.stamp
    index_s=""
    if [ ! -d "$coll" ] || [ ! -f "$stamp" ] || [ "$INDEX" -nt "$stamp" ] || [ "$dir/corpus.jsonl" -nt "$stamp" ]; then
        rm -rf "$coll" "$stamp"
        t0=$(now)
        # shellcheck disable=SC2086
        if ! "$INDEX" -c "$coll" --quiet $EMBED_ARGS "$dir/corpus.jsonl"; then
            echo "eval.sh: $name: indexing failed" >&2
            failed=$((failed + 1))
            continue
        fi
        index_s=$(elapsed "$t0" "$(now)")
        touch "$stamp"
    fi
    docs=$("$INDEX" -c "$coll" --stats --json | jnum documents)
    for MODE in $MODES; do
        run=$BUILD/eval/$name.$MODE.trec
        t0=$(now)
        # shellcheck disable=SC2086
        if ! metrics=$("$SEARCH" -c "$coll" --mode "$MODE" ${LCTX_EVAL_SEARCH_ARGS:-} --queries "$dir/queries.jsonl" \
                       --run "$run" --qrels "$dir/qrels/test.tsv" --json 2>"$BUILD/eval/$name.$MODE.log"); then
            echo "eval.sh: $name: search failed:" >&2
            cat "$BUILD/eval/$name.$MODE.log" >&2
            failed=$((failed + 1))
            continue
        fi
        search_s=$(elapsed "$t0" "$(now)")
        queries=$(printf '%s' "$metrics" | jnum queries)
        ndcg=$(printf '%s' "$metrics" | jnum ndcg_10)
        recall=$(printf '%s' "$metrics" | jnum recall_100)
        mrr=$(printf '%s' "$metrics" | jnum mrr_10)
        printf '| %s | %s | %s | %s | %.4f | %.4f | %.4f |\n' "$name" "$MODE" "$docs" "$queries" "$ndcg" "$recall" "$mrr"
        printf '{"collection":"%s","mode":"%s","docs":%s,"queries":%s,"ndcg_10":%s,"recall_100":%s,"mrr_10":%s,"index_s":%s,"search_s":%s,"commit":"%s","date":"%s"}\n' \
            "$name" "$MODE" "$docs" "$queries" "$ndcg" "$recall" "$mrr" "${index_s:-null}" "$search_s" "$COMMIT" "$DATE" >> "$NEW"
    done
done

# Mean over the collections of this run.
for MODE in $MODES; do
    grep "\"mode\":\"$MODE\"" "$NEW" | awk -v m="$MODE" -F'"ndcg_10":|,"recall_100":|,"mrr_10":|,"index_s"' '
        { n++; a += $2; b += $3; c += $4 }
        END { if (n) printf "| **mean** (%d) | %s | | | %.4f | %.4f | %.4f |\n", n, m, a / n, b / n, c / n }'
done

# Merge: a line per (collection, mode); this run replaces its own pairs and
# keeps the rest, so a partial run (EVAL_COLLECTIONS=...) loses nothing.
JSONL=$RESULTS/eval.jsonl
key='{ k = $0; sub(/.*"collection":"/, "", k); sub(/".*/, "", k); m = $0; sub(/.*"mode":"/, "", m); sub(/".*/, "", m) }'
{
    if [ -f "$JSONL" ] && [ -s "$NEW" ]; then
        awk "FNR == NR $key FNR == NR { fresh[k \" \" m] = 1; next } $key !((k \" \" m) in fresh)" "$NEW" "$JSONL"
    elif [ -f "$JSONL" ]; then
        cat "$JSONL"
    fi
    cat "$NEW"
} > "$JSONL.tmp"
mv "$JSONL.tmp" "$JSONL"
rm -f "$NEW"

# eval.md: one table per mode, from eval.jsonl.
awk '
    function get(line, key,    s) {
        if (!match(line, "\"" key "\":(\"[^\"]*\"|[^,}]*)")) return ""
        s = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
        gsub(/"/, "", s)
        return s
    }
    {
        m = get($0, "mode")
        if (!(m in seen)) { seen[m] = 1; order[++nm] = m }
        rows[m] = rows[m] sprintf("| %s | %s | %s | %.4f | %.4f | %.4f |\n", get($0, "collection"),
            get($0, "docs"), get($0, "queries"), get($0, "ndcg_10"), get($0, "recall_100"), get($0, "mrr_10"))
        n[m]++; a[m] += get($0, "ndcg_10"); b[m] += get($0, "recall_100"); c[m] += get($0, "mrr_10")
        when[m] = get($0, "date") " (" get($0, "commit") ")"
    }
    END {
        print "# lctx retrieval quality on the dev collections\n"
        print "Produced by `make eval` (tools/eval.sh). nDCG@10, Recall@100 and MRR@10 are"
        print "computed as trec_eval computes ndcg_cut_10, recall_100 and recip_rank cut at 10.\n"
        for (i = 1; i <= nm; i++) {
            m = order[i]
            printf "## %s — %s\n\n", m, when[m]
            print "| collection | docs | queries | nDCG@10 | Recall@100 | MRR@10 |"
            print "|---|---:|---:|---:|---:|---:|"
            printf "%s", rows[m]
            printf "| **mean** (%d) | | | %.4f | %.4f | %.4f |\n\n", n[m], a[m] / n[m], b[m] / n[m], c[m] / n[m]
        }
    }' "$JSONL" > "$RESULTS/eval.md"

echo "wrote $JSONL and $RESULTS/eval.md" >&2
[ "$failed" -eq 0 ] || { echo "eval.sh: $failed collections failed" >&2; exit 1; }
