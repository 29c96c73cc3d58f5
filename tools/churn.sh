#!/bin/sh
# tools/churn.sh — a collection's index after days of upserts and
# compactions, against a fresh build of the same documents.
#
# Each day indexes UPSERTS documents under ids that rotate over 3 * UPSERTS
# / 2 names (so each replaces an earlier version) and NEW documents kept
# for good, then runs `lctx-index --compact`; texts come from a BEIR
# corpus. At the end the live documents are exported from the catalog and
# indexed in one batch into a new collection. Prints the size of each
# index's data.mdb (and of its chunk records, which chunk ids that are
# never reused leave scattered) and whether both answer the corpus's
# queries alike, as a JSON line on stdout.
#
#   tools/churn.sh [DAYS [UPSERTS [NEW [CORPUS_DIR]]]]    (200 500 20 lisa)
#   LCTX_INDEX=build/lctx-index LCTX_SEARCH=build/lctx-search
set -eu
DAYS=${1:-200}
UPSERTS=${2:-500}
NEW=${3:-20}
CORPUS=${4:-../shared/data/ir/lisa}
IDX=${LCTX_INDEX:-build/lctx-index}
SEARCH=${LCTX_SEARCH:-build/lctx-search}
WORK=$(mktemp -d /tmp/lctx-churn.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

python3 - "$CORPUS/corpus.jsonl" "$WORK" "$DAYS" "$UPSERTS" "$NEW" <<'EOF'
import json, random, sys
src, work, days, ups, new = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
docs = [json.loads(l) for l in open(src, encoding="utf-8") if l.strip()]
docs = [d for d in docs if d.get("text", "").strip()]
rnd = random.Random(1)
names = ups * 3 // 2
for day in range(days):
    with open(f"{work}/day{day}.jsonl", "w", encoding="utf-8") as f:
        for i in range(ups):
            d = rnd.choice(docs)
            f.write(json.dumps({"_id": f"u{(day * ups + i) % names}",
                                "text": d["text"] + f" day{day}"}) + "\n")
        for i in range(new):
            d = rnd.choice(docs)
            f.write(json.dumps({"_id": f"k{day}_{i}", "title": d.get("title", ""),
                                "text": d["text"]}) + "\n")
EOF

day=0
while [ "$day" -lt "$DAYS" ]; do
    "$IDX" -q -c "$WORK/churned.lctx" "$WORK/day$day.jsonl"
    "$IDX" -q -c "$WORK/churned.lctx" --compact
    day=$((day + 1))
done

python3 - "$WORK" <<'EOF'
import json, sqlite3, sys
work = sys.argv[1]
c = sqlite3.connect(f"{work}/churned.lctx/catalog.db")
with open(f"{work}/live.jsonl", "w", encoding="utf-8") as f:
    for ext, title, text in c.execute("SELECT ext_id, title, text FROM documents "
                                      "WHERE deleted_seq IS NULL ORDER BY doc_id"):
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        f.write(json.dumps({"_id": ext, "title": title or "", "text": text}) + "\n")
EOF
"$IDX" -q -c "$WORK/fresh.lctx" "$WORK/live.jsonl"

for c in churned fresh; do
    "$SEARCH" -c "$WORK/$c.lctx" --queries "$CORPUS/queries.jsonl" --run "$WORK/$c.trec" 2>/dev/null
done
# the same documents and scores; ties may be listed in another order
same=$(sort -k1,1 -k3,3 "$WORK/churned.trec" | awk '{print $1, $3, $5}' | sort | md5sum)
want=$(sort -k1,1 -k3,3 "$WORK/fresh.trec" | awk '{print $1, $3, $5}' | sort | md5sum)

python3 - "$WORK" "$DAYS" "$UPSERTS" "$NEW" "$CORPUS" "$([ "$same" = "$want" ] && echo true || echo false)" <<'EOF'
import ctypes, glob, json, os, sys
work, days, ups, new, corpus, same = sys.argv[1:]
lmdb = ctypes.CDLL("liblmdb.so.0")
class Stat(ctypes.Structure):
    _fields_ = [("psize", ctypes.c_uint), ("depth", ctypes.c_uint), ("branch", ctypes.c_size_t),
                ("leaf", ctypes.c_size_t), ("overflow", ctypes.c_size_t), ("entries", ctypes.c_size_t)]
def chunk_bytes(folder):
    env = ctypes.c_void_p(); txn = ctypes.c_void_p(); dbi = ctypes.c_uint(); st = Stat()
    lmdb.mdb_env_create(ctypes.byref(env)); lmdb.mdb_env_set_maxdbs(env, 16)
    assert lmdb.mdb_env_open(env, folder.encode(), 0x20000, 0o644) == 0   # MDB_RDONLY
    lmdb.mdb_txn_begin(env, None, 0x20000, ctypes.byref(txn))
    assert lmdb.mdb_dbi_open(txn, b"chunks", 0, ctypes.byref(dbi)) == 0
    lmdb.mdb_stat(txn, dbi, ctypes.byref(st))
    lmdb.mdb_txn_abort(txn); lmdb.mdb_env_close(env)
    return (st.branch + st.leaf + st.overflow) * st.psize
out = {"bench": "churn", "corpus": os.path.basename(corpus.rstrip("/")), "days": int(days),
       "upserts_per_day": int(ups), "new_per_day": int(new), "same_answers": same == "true"}
for c in ("churned", "fresh"):
    folder = sorted(glob.glob(f"{work}/{c}.lctx/index*"))[-1]
    out[c + "_index_bytes"] = os.path.getsize(f"{folder}/data.mdb")
    out[c + "_chunk_page_bytes"] = chunk_bytes(folder)
out["ratio"] = round(out["churned_index_bytes"] / out["fresh_index_bytes"], 3)
print(json.dumps(out))
EOF
