#!/bin/bash
# bench-spill.sh — memory and time of one large atomic batch at several
# batch memories (lctx-index --batch-memory), and whether the indexes agree.
#
# A batch keeps its postings in memory until they pass --batch-memory, then
# spills them to sorted runs in the collection's folder (indexer/spill.c).
# This builds one corpus of every dev collection's documents, COPIES times
# over with fresh ids (about 130 MB of JSONL for 6), indexes it in one batch
# per setting, ROUNDS times in alternating order, and reports per setting
# the median wall time and the largest peak of anonymous memory (RssAnon,
# sampled every 20 ms: /usr/bin/time's maximum RSS would also count the
# runs' pages, which are the page cache's and can be dropped), and checks
# that every setting wrote the same index/data.mdb byte for byte.
#
# usage: tools/bench-spill.sh [COPIES] [ROUNDS] [SETTINGS...]
#   defaults: 6 copies, 3 rounds, settings 0 (never spill) 256 64 (the default) 16 4
# Environment: SHARED (default ../shared). Writes bench/results/spill.md
# and spill.jsonl.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
COPIES=${1:-6}
ROUNDS=${2:-3}
SETTINGS="0 256 64 16 4"
if [ $# -gt 2 ]; then
    shift 2
    SETTINGS="$*"
fi
SHARED=${SHARED:-$ROOT/../shared}
WORK=$ROOT/build/spill
BIN=$ROOT/build/lctx-index
[ -x "$BIN" ] || make -s build/lctx-index
mkdir -p "$WORK"

CORPUS=$WORK/corpus-$COPIES.jsonl
if [ ! -s "$CORPUS" ]; then
    python3 - "$SHARED/data/ir" "$COPIES" "$CORPUS" <<'EOF'
import json, os, sys
base, copies, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
docs = []
for name in sorted(os.listdir(base)):
    p = os.path.join(base, name, "corpus.jsonl")
    if os.path.exists(p):
        for line in open(p, encoding="utf-8"):
            d = json.loads(line)
            docs.append((name, d))
with open(out, "w", encoding="utf-8") as f:
    for r in range(copies):
        for name, d in docs:
            f.write(json.dumps({"_id": f"{r}-{name}-{d['_id']}", "title": d.get("title", ""),
                                "text": d.get("text", "")}) + "\n")
EOF
fi
MB=$(( $(stat -c %s "$CORPUS") / 1000000 ))

# Runs one build; prints "wall_s anon_kb".
one() {
    local setting=$1 dir=$WORK/c-$1.lctx t0 t1 pid peak=0 a
    rm -rf "$dir"
    t0=$(date +%s.%N)
    "$BIN" -c "$dir" --quiet --batch-memory "$setting" "$CORPUS" 2>/dev/null &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        a=$(awk '/^RssAnon/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$a" ] && [ "$a" -gt "$peak" ] && peak=$a
        sleep 0.02
    done
    wait "$pid"
    t1=$(date +%s.%N)
    echo "$(awk "BEGIN{printf \"%.3f\", $t1 - $t0}") $peak"
}

declare -A WALLS PEAKS
for r in $(seq 1 "$ROUNDS"); do
    order=$SETTINGS
    [ $((r % 2)) -eq 0 ] && order=$(echo "$SETTINGS" | tr ' ' '\n' | tac | tr '\n' ' ')
    for s in $order; do
        read -r w p < <(one "$s")
        WALLS[$s]="${WALLS[$s]:-} $w"
        [ "$p" -gt "${PEAKS[$s]:-0}" ] && PEAKS[$s]=$p
        echo "bench-spill.sh: round $r, --batch-memory $s: $w s, peak anonymous $((p / 1024)) MiB" >&2
    done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{v[NR]=$1} END{print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
first=${SETTINGS%% *}
MD=bench/results/spill.md
JL=bench/results/spill.jsonl
: > "$JL"
{
    echo "# One atomic batch at several batch memories"
    echo
    echo "- date: $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD)"
    echo "- corpus: every dev collection's documents, $COPIES copies with fresh ids: $(wc -l < "$CORPUS") documents, $MB MB of JSONL, one batch (\`lctx-index --batch-memory N\`)"
    echo "- method: tools/bench-spill.sh; $ROUNDS rounds in alternating order; wall time is the median, memory the largest peak of RssAnon sampled every 20 ms"
    echo
    echo "| --batch-memory (MiB) | wall s (median) | peak anonymous MiB | same index as $first |"
    echo "|---:|---:|---:|:---:|"
    for s in $SETTINGS; do
        w=$(echo "${WALLS[$s]}" | median)
        same=yes
        cmp -s "$WORK/c-$first.lctx/index/data.mdb" "$WORK/c-$s.lctx/index/data.mdb" || same=NO
        echo "| $s | $w | $(( PEAKS[$s] / 1024 )) | $same |"
        printf '{"batch_memory_mib":%s,"wall_s":%s,"peak_anon_kib":%s,"same_index":"%s","docs":%s,"mb":%s}\n' \
            "$s" "$w" "${PEAKS[$s]}" "$same" "$(wc -l < "$CORPUS")" "$MB" >> "$JL"
    done
} > "$MD"
cat "$MD"
