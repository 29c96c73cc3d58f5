#!/bin/sh
# bench-bm25.sh — run the BM25 benchmark: lctx against SQLite FTS5 and Xapian.
#
# For every collection (BEIR layout under $SHARED/data/ir/NAME/) and every
# method, it runs the method's program (bench-bm25 = lctx, bench-fts5,
# bench-xapian; see bench/bm25_common.h for what they time and how), scores
# the TREC run with lctx-eval — the same evaluator for every method, so a
# difference in nDCG is never a difference in scoring code — and merges the
# program's JSON line with the metrics into one line of
# bench/results/bm25.jsonl. From those lines it writes bench/results/bm25.md:
# quality, latency and indexing tables side by side with ratios, and which of
# the issue's targets hold.
#
# The three methods of one collection run back to back in the same
# invocation, so they share the machine's state; on a busy machine latencies
# still move, which is why the report quotes medians and why final figures
# should be taken on a quiet machine.
#
# Environment:
#   SHARED       data root holding data/ir/ (default: ../shared from the repo root)
#   COLLECTIONS  space-separated list (default: the ten dev collections)
#   METHODS      subset of "lctx fts5 xapian"
#   REPEAT       timed repetitions of each query (default 5)
#   BUILDS       timed builds of each index, median reported (default 5)
#   UNION=0      skip the union run (below)
#   UNION_METHODS  methods of the union run (default "lctx fts5": Xapian takes
#                14 s a build there, and its indexing is no target)
#   UNION_REPEAT timed repetitions of each union query (default 1: FTS5 takes
#                about 50 ms a query on the union, and there are 712)
#   NOSYNC=1     run every program under eatmydata (fsync and O_SYNC become
#                no-ops), results in bm25-nosync.jsonl / .md: the share of
#                indexing time spent waiting for the disk, same for all
#   BUILD        build directory (default build)
#   RESULTS      output folder (default bench/results)
#   EVAL         evaluator (default $BUILD/lctx-eval, called as EVAL -c --json QRELS RUN)
#   BM25_NO_BUILD=1  skip `make` (the Makefile's bench-bm25 target built already)
#
# After the collections one at a time, the same programs run on their union:
# every corpus, query and judgement of COLLECTIONS in one collection, each id
# prefixed with its collection's name ("cacm:1410"). Ten small collections
# measure how fast an engine creates a durable index of a few thousand
# documents, where opening and committing are a large part of each build;
# the union (35,030 documents, 18.7 MB for the ten) measures documents per
# second where they are not. It is reported in its own section and never
# counted in the per-collection targets.
#
# Exit status: 0 when every method ran on every collection, 1 otherwise (the
# results are written either way, with an "error" line for each failure).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
SHARED=${SHARED:-$ROOT/../shared}
DATA=$SHARED/data/ir
COLLECTIONS=${COLLECTIONS:-"cranfield cisi cacm med npl lisa time adi msmarco_dl19_passage_subset dbpedia_entity_subset"}
METHODS=${METHODS:-"lctx fts5 xapian"}
REPEAT=${REPEAT:-5}
BUILDS=${BUILDS:-5}
NOSYNC=${NOSYNC:-0}
WRAP=
NAME=bm25
if [ "$NOSYNC" = 1 ]; then
    command -v eatmydata >/dev/null 2>&1 || { echo "bench-bm25.sh: NOSYNC=1 needs eatmydata" >&2; exit 1; }
    WRAP=eatmydata
    NAME=bm25-nosync
fi
RESULTS=${RESULTS:-bench/results}
EVAL=${EVAL:-$BUILD/lctx-eval}
WORK=$BUILD/bm25-work          # not $BUILD/bench-bm25: that is the lctx program
PROG=bench-bm25.sh
# One BLAS thread, as in every lctx benchmark: lctx calls BLAS once per
# thread of its own, and BM25 not at all. Without it, the pthread OpenBLAS
# that liblctx links starts a pool at load whose threads spin about 0.1 s of
# a core, inside the timed indexing of a small collection (the peers do not
# link OpenBLAS). docs/ARCHITECTURE.md has the story.
export OPENBLAS_NUM_THREADS=1

die() { echo "$PROG: $*" >&2; exit 1; }

program_for() {
    case $1 in
    lctx) echo "$BUILD/bench-bm25" ;;
    fts5) echo "$BUILD/bench-fts5" ;;
    xapian) echo "$BUILD/bench-xapian" ;;
    *) return 1 ;;
    esac
}

command -v jq >/dev/null 2>&1 || die "jq is needed (apt-get install jq)"
[ -d "$DATA" ] || die "$DATA: no such folder (set SHARED)"
for m in $METHODS; do program_for "$m" >/dev/null || die "unknown method $m"; done

# Build each program on its own, so a library that does not build yet still
# lets the peers run (their lines then stand next to an lctx error line).
if [ -z "${BM25_NO_BUILD:-}" ]; then
    for t in $(for m in $METHODS; do program_for "$m"; done) "$EVAL"; do
        make --no-print-directory BUILD="$BUILD" "$t" >&2 || echo "$PROG: building $t failed" >&2
    done
fi

mkdir -p "$WORK" "$RESULTS" || exit 1
JSONL_TMP=$WORK/$NAME.jsonl.tmp
: > "$JSONL_TMP"
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
failures=0

# An error line keeps the table honest: a missing number is shown as a
# failure, never silently dropped.
record_error() {   # method collection message
    jq -cn --arg m "$1" --arg c "$2" --arg e "$3" --arg d "$DATE" \
        '{method:$m, collection:$c, error:$e, date:$d}' >> "$JSONL_TMP"
    echo "$PROG: $2/$1: $3" >&2
    failures=$((failures + 1))
}

UNION_NAME=union
dir_for() {   # collection -> its BEIR folder
    if [ "$1" = "$UNION_NAME" ]; then echo "$WORK/$UNION_NAME/data"; else echo "$DATA/$1"; fi
}

# Writes the union of COLLECTIONS into $WORK/union/data in BEIR layout, ids
# prefixed "NAME:" so that no two collections' ids meet.
make_union() {
    u=$WORK/$UNION_NAME/data
    rm -rf "${u:?}" && mkdir -p "$u/qrels" || return 1
    printf 'query-id\tcorpus-id\tscore\n' > "$u/qrels/test.tsv"
    for c in $COLLECTIONS; do
        d=$DATA/$c
        for f in corpus queries; do
            jq -c --arg c "$c" '._id = ($c + ":" + ((._id // .id) | tostring)) | del(.id)' \
                "$d/$f.jsonl" >> "$u/$f.jsonl" || return 1
        done
        awk -F '\t' -v c="$c" 'NR > 1 && NF >= 3 { print c ":" $1 "\t" c ":" $2 "\t" $3 }' \
            "$d/qrels/test.tsv" >> "$u/qrels/test.tsv" || return 1
    done
}

run_one() {   # method collection [repeat]
    m=$1; c=$2; repeat=${3:-$REPEAT}
    dir=$(dir_for "$c"); out=$WORK/$c; prog=$(program_for "$m")
    [ -x "$prog" ] || { record_error "$m" "$c" "$prog not built"; return; }
    rm -rf "${out:?}/$m" "$out/$m.trec"
    mkdir -p "$out"
    # The result is read once the program has ended: a reader started
    # beside it (a pipe) would take CPU inside its first build, and lctx,
    # which uses both cores, would pay for it more than the peers.
    $WRAP "$prog" --corpus "$dir/corpus.jsonl" --queries "$dir/queries.jsonl" \
        --index "$out/$m" --run "$out/$m.trec" --repeat "$repeat" --builds "$BUILDS" --collection "$c" \
        > "$out/$m.json" 2> "$out/$m.log"
    line=$(tail -n 1 "$out/$m.json")
    if [ -z "$line" ]; then
        record_error "$m" "$c" "$(tail -n 1 "$out/$m.log")"
        return
    fi
    [ -x "$EVAL" ] || { record_error "$m" "$c" "$EVAL not built"; return; }
    # -c: average over every judged query, an unanswered one scoring 0, so a
    # method that returns nothing for a hard query is not rewarded for it.
    metrics=$("$EVAL" -c --json "$dir/qrels/test.tsv" "$out/$m.trec" 2>> "$out/$m.log" | tail -n 1)
    if ! printf '%s\n%s\n' "$line" "$metrics" | jq -e -s 'length == 2' >/dev/null 2>&1; then
        record_error "$m" "$c" "evaluation failed: $(tail -n 1 "$out/$m.log")"
        return
    fi
    printf '%s\n%s\n' "$line" "$metrics" |
        jq -c -s --arg d "$DATE" '.[0] + (.[1] | with_entries(
            if .key == "queries" then .key = "eval_queries" else . end)) + {date:$d}' >> "$JSONL_TMP"
    # The index is only needed for its size, already measured.
    rm -rf "${out:?}/$m"
}

for c in $COLLECTIONS; do
    if [ ! -f "$DATA/$c/corpus.jsonl" ]; then
        for m in $METHODS; do record_error "$m" "$c" "$DATA/$c/corpus.jsonl missing"; done
        continue
    fi
    for m in $METHODS; do
        echo "$PROG: $c: $m" >&2
        run_one "$m" "$c"
    done
done

RUN_UNION=0
if [ "${UNION:-1}" != 0 ] && [ "$(echo $COLLECTIONS | wc -w)" -ge 2 ]; then
    RUN_UNION=1
    echo "$PROG: $UNION_NAME: building the union of the collections" >&2
    if make_union; then
        for m in ${UNION_METHODS:-lctx fts5}; do
            echo "$PROG: $UNION_NAME: $m" >&2
            run_one "$m" "$UNION_NAME" "${UNION_REPEAT:-1}"
        done
    else
        for m in ${UNION_METHODS:-lctx fts5}; do record_error "$m" "$UNION_NAME" "building the union failed"; done
    fi
    rm -rf "${WORK:?}/$UNION_NAME/data"
fi

mv "$JSONL_TMP" "$RESULTS/$NAME.jsonl" || exit 1

# ------------------------------------------------------------------ report
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)
NCPU=$(nproc 2>/dev/null)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

jq -r -s \
    --arg cpu "${CPU:-unknown}" --arg ncpu "${NCPU:-?}" --arg date "$DATE" \
    --arg load "${LOAD:-?}" --arg commit "$COMMIT" --arg repeat "$REPEAT" --arg builds "$BUILDS" \
    --arg order "$COLLECTIONS" --arg nosync "$NOSYNC" --arg union "$UNION_NAME" --arg run_union "$RUN_UNION" '
# Fixed-point text with d decimals; "–" for a missing number.
def fix($d):
  if type != "number" then "–"
  else ((. * pow(10; $d)) | round) as $i
     | ($i | fabs | tostring) as $s
     | (if $d == 0 then $s
        else ("0" * ([$d + 1 - ($s | length), 0] | max)) + $s
           | .[0:length - $d] + "." + .[length - $d:]
        end) as $t
     | (if $i < 0 then "-" + $t else $t end)
  end;
def ratio($a; $b): if ($a | type) == "number" and ($b | type) == "number" and $b > 0
                   then $a / $b else null end;
def median: map(select(type == "number")) | sort
  | if length == 0 then null
    elif length % 2 == 1 then .[(length - 1) / 2]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
def mb: if type == "number" then . / 1048576 else null end;
# The median build of a run in ms, with the fastest and slowest: "12.3 (11.9–14.0)".
def msr: if . == null or .index_seconds == null then "–"
         else "\(.index_seconds * 1000 | fix(1)) (\(.index_seconds_min * 1000 | fix(1))–\(.index_seconds_max * 1000 | fix(1)))" end;
def yes($c): if $c == null then "–" elif $c then "yes" else "**no**" end;
# The lines of the three engines for collection $c: {l: lctx, f: FTS5, x: Xapian}, null where missing.
def of_collection($c): map(select(.collection == $c)) as $rows
  | { l: ($rows | map(select(.method == "lctx")) | first),
      f: ($rows | map(select(.method == "fts5")) | first),
      x: ($rows | map(select(.method == "xapian")) | first) };

. as $all
| ($order | split(" ") | map(select(length > 0))) as $colls
| [ $colls[] as $c | {c: $c} + ($all | of_collection($c)) ] as $t
| ($all | map(select(.collection == $union))) as $urows
| ($all | of_collection($union)) as $u
| ratio($u.l.docs_per_second; $u.f.docs_per_second) as $uri
| ($all | map(select(.error == null)) | map({key: .method, value: .version}) | from_entries) as $ver
| [ $t[] | . as $r
    | { c: .c,
        ndcg: (if .l.ndcg_10 != null and .f.ndcg_10 != null and .x.ndcg_10 != null
               then .l.ndcg_10 >= .f.ndcg_10 and .l.ndcg_10 >= .x.ndcg_10 else null end),
        rf: ratio($r.l.query_p50_ms; $r.f.query_p50_ms),
        rx: ratio($r.l.query_p50_ms; $r.x.query_p50_ms),
        ri: ratio($r.l.docs_per_second; $r.f.docs_per_second) } ] as $s
# "met on": collections meeting the target, of those where it could be
# measured; a collection with a failed run is named as not measured.
| def count(f): ($s | map(f)) as $v
    | ($v | map(select(. == null)) | length) as $none
    | "\($v | map(select(. == true)) | length) of \(($v | length) - $none)"
      + (if $none > 0 then " (\($none) not measured)" else "" end);
"# BM25 benchmark: lctx vs SQLite FTS5 vs Xapian" + (if $nosync == "1" then ", fsync off" else "" end),
"",
(if $nosync == "1" then "Every program ran under eatmydata: fsync, fdatasync and O_SYNC were no-ops, so nothing was durable. This run measures the work apart from waiting for the disk; `bm25.md` has the real one.\n" else empty end),
"- date: \($date); commit \($commit)",
"- machine: \($cpu), \($ncpu) CPUs; load average at the end: \($load)",
"- versions: lctx \($ver.lctx // "–"), SQLite \($ver.fts5 // "–"), Xapian \($ver.xapian // "–")",
"- method: bench/bm25_common.h. Each program indexes title + text of the whole corpus from one calling thread, \($builds) times, each into a new folder (timed from opening the empty index to closing it after commit; JSON parsing excluded; the median build is reported, with the fastest and slowest); lctx tokenizes on one extra thread of its own and on the calling thread, FTS5 and Xapian use none; then each runs every query \($repeat) times. Latency is a k=10 search returning ids and scores; a query'"'"'s latency is the median of its repeats, p50/p95 are over queries. The TREC run (top 100) comes from a separate untimed pass. All runs are scored by lctx-eval.",
"- peers as shipped: FTS5 `porter unicode61`, `bm25()` (k1 1.2, b 0.75), OR of the quoted query words; Xapian TermGenerator/QueryParser with Stem(\"english\"), STEM_SOME, default OR, BM25Weight defaults (k1 1, b 0.5). lctx: default configuration, LCTX_MODE_BM25.",
"",
"## Quality: nDCG@10 (Recall@100)",
"",
"| collection | docs | queries | lctx | FTS5 | Xapian | lctx ≥ both |",
"|---|---:|---:|---:|---:|---:|:---:|",
( $t[] | . as $r
  | ([.l, .f, .x] | map(select(. != null and .docs != null)) | first) as $any
  | "| \(.c) | \($any.docs // "–") | \($any.queries // "–") | "
    + "\(.l.ndcg_10 | fix(4)) (\(.l.recall_100 | fix(3))) | "
    + "\(.f.ndcg_10 | fix(4)) (\(.f.recall_100 | fix(3))) | "
    + "\(.x.ndcg_10 | fix(4)) (\(.x.recall_100 | fix(3))) | "
    + "\(yes($s[] | select(.c == $r.c) | .ndcg)) |" ),
"",
"## Query latency (ms, one thread, k=10)",
"",
"| collection | lctx p50 | FTS5 p50 | Xapian p50 | lctx/FTS5 | lctx/Xapian | lctx p95 | FTS5 p95 | Xapian p95 |",
"|---|---:|---:|---:|---:|---:|---:|---:|---:|",
( $t[] | . as $r | ($s[] | select(.c == $r.c)) as $q
  | "| \(.c) | \(.l.query_p50_ms | fix(3)) | \(.f.query_p50_ms | fix(3)) | \(.x.query_p50_ms | fix(3)) | "
    + "\($q.rf | fix(2)) | \($q.rx | fix(2)) | "
    + "\(.l.query_p95_ms | fix(3)) | \(.f.query_p95_ms | fix(3)) | \(.x.query_p95_ms | fix(3)) |" ),
"",
"## Indexing (one calling thread; lctx adds one tokenizer thread; BM25 only)",
"",
"| collection | lctx docs/s | FTS5 docs/s | Xapian docs/s | lctx/FTS5 | lctx ms (range) | FTS5 ms (range) | lctx MB | FTS5 MB | Xapian MB |",
"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
( $t[] | . as $r | ($s[] | select(.c == $r.c)) as $q
  | "| \(.c) | \(.l.docs_per_second | fix(0)) | \(.f.docs_per_second | fix(0)) | \(.x.docs_per_second | fix(0)) | "
    + "\($q.ri | fix(2)) | \(.l | msr) | \(.f | msr) | "
    + "\(.l.index_bytes | mb | fix(2)) | \(.f.index_bytes | mb | fix(2)) | \(.x.index_bytes | mb | fix(2)) |" ),
"",
"## Targets",
"",
"| target | met on | median lctx/peer |",
"|---|---|---:|",
"| nDCG@10 ≥ FTS5 and ≥ Xapian | \(count(.ndcg)) | – |",
"| query p50 ≤ ½ FTS5 | \(count(if .rf == null then null else .rf <= 0.5 end)) | \($s | map(.rf) | median | fix(2)) |",
"| query p50 ≤ Xapian | \(count(if .rx == null then null else .rx <= 1 end)) | \($s | map(.rx) | median | fix(2)) |",
"| indexing ≥ 2× FTS5 docs/s | \(count(if .ri == null then null else .ri >= 2 end)) | \($s | map(.ri) | median | fix(2)) |",
(if $run_union == "1" then
"| indexing ≥ 2× FTS5 docs/s, the union (below) | \(if $uri == null then "not measured" elif $uri >= 2 then "yes" else "**no**" end) | \($uri | fix(2)) |"
 else empty end),
"",
(if $run_union == "1" then
 ([$u.l, $u.f, $u.x] | map(select(. != null and .docs != null)) | first) as $any
 | "## Indexing at scale: the collections above as one corpus",
   "",
   "Every corpus, query and judgement of the \($colls | length) collections in one collection, each id prefixed with its collection'"'"'s name: \($any.docs // "–") documents, \($any.queries // "–") queries. A build indexes all of it in one batch, so opening the index and making it durable weigh little next to the documents: this is indexing throughput, where each collection alone mostly measures how fast an engine creates a durable index of a few thousand documents. Quality here is information, not a target: every collection'"'"'s documents compete with the others'"'"' and share one set of statistics. Each query is timed \($urows | map(.repeat // empty) | first | if . == 1 then "once" elif . == null then "–" else "\(.) times" end).",
   "",
   "| engine | docs/s | ms (range) | lctx/engine docs/s | nDCG@10 (Recall@100) | query p50 ms | MB |",
   "|---|---:|---:|---:|---:|---:|---:|",
   ( [["lctx", $u.l], ["FTS5", $u.f], ["Xapian", $u.x]][] | select(.[1] != null) as [$n, $r]
     | "| \($n) | \($r.docs_per_second | fix(0)) | \($r | msr) | \(ratio($u.l.docs_per_second; $r.docs_per_second) | fix(2)) | "
       + "\($r.ndcg_10 | fix(4)) (\($r.recall_100 | fix(3))) | \($r.query_p50_ms | fix(3)) | \($r.index_bytes | mb | fix(2)) |" ),
   ""
 else empty end),
( [ $all[] | select(.error != null) ] as $e
  | if ($e | length) == 0 then "All runs completed."
    else "Failed runs:", "", ($e[] | "- \(.collection) / \(.method): \(.error)") end )
' "$RESULTS/$NAME.jsonl" > "$RESULTS/$NAME.md.tmp" && mv "$RESULTS/$NAME.md.tmp" "$RESULTS/$NAME.md" ||
    die "writing $RESULTS/$NAME.md failed"

echo "$PROG: wrote $RESULTS/$NAME.jsonl and $RESULTS/$NAME.md ($failures failed runs)" >&2
[ "$failures" -eq 0 ]
