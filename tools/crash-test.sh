#!/bin/sh
# crash-test.sh — kill -9 lctx-index at random moments, many times, and check
# that every batch it reported committed survived, and that the collection
# passes lctx-index --check after each crash.
#
#   tools/crash-test.sh [ROUNDS] [BUILD]       (defaults: 50 rounds, build/)
#
# Each round writes FILES small JSONL inputs and runs
#   lctx-index -c COLL --batch-docs DOCS in1.jsonl in2.jsonl ...
# so every input (DOCS documents) is one batch, reported on stderr as
# "committed batch N" (the count of --batch-docs carries across inputs).
# The k-th report of a round belongs to the k-th input. After the kill the
# collection is reopened (recovery runs), checked, and every document of
# every reported input must be found: each input's documents share a unique
# word, searched for with lctx-search. (The unit test
# tests/test_recovery_crash.c does the same through the API, a few rounds.)
set -u
ROUNDS=${1:-50}
BUILD=${2:-build}
FILES=150
DOCS=5
INDEX=$BUILD/lctx-index
SEARCH=$BUILD/lctx-search
[ -x "$INDEX" ] && [ -x "$SEARCH" ] || { echo "crash-test.sh: build $INDEX and $SEARCH first" >&2; exit 2; }
WORK=$(mktemp -d /tmp/lctx-crash-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
COLL=$WORK/c.lctx
fail=0
r=0
while [ "$r" -lt "$ROUNDS" ]; do
    inputs=""
    f=0
    while [ $f -lt $FILES ]; do
        : > "$WORK/in$f.jsonl"
        d=0
        while [ $d -lt $DOCS ]; do
            printf '{"_id":"r%d-f%d-d%d","title":"round %d","text":"crash test zq%dx%d document %d"}\n' \
                "$r" "$f" "$d" "$r" "$r" "$f" "$d" >> "$WORK/in$f.jsonl"
            d=$((d + 1))
        done
        inputs="$inputs $WORK/in$f.jsonl"
        f=$((f + 1))
    done
    # shellcheck disable=SC2086
    "$INDEX" -c "$COLL" --batch-docs "$DOCS" $inputs 2> "$WORK/err" &
    pid=$!
    # A moment within the run: 150 one-input batches take about 0.3-0.5 s.
    ms=$(( $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 300 ))
    sleep "$(printf '0.%03d' "$ms")"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if ! "$INDEX" -c "$COLL" --check > "$WORK/check" 2>&1; then
        echo "round $r: check failed:"; cat "$WORK/check"; fail=$((fail + 1))
    fi
    reported=$(grep -c "committed batch" "$WORK/err")
    [ -n "${VERBOSE:-}" ] && echo "round $r: $reported batches reported before the kill"
    k=0
    while [ $k -lt "$reported" ]; do
        n=$("$SEARCH" -c "$COLL" -k 20 --json "zq${r}x${k}" 2>/dev/null | grep -o '"id"' | wc -l)
        if [ "$n" -ne $DOCS ]; then
            echo "round $r: input $k was reported committed but $n of $DOCS documents are found"
            fail=$((fail + 1))
        fi
        k=$((k + 1))
    done
    r=$((r + 1))
done
echo "crash-test: $ROUNDS rounds, $fail failures"
[ "$fail" -eq 0 ]
