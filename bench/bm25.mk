# bm25.mk — the BM25 benchmark: lctx against SQLite FTS5 and Xapian.
#
# `make bench-bm25` builds the three programs and lctx-eval, then runs
# tools/bench-bm25.sh, which indexes and queries every dev collection with
# each engine and writes bench/results/bm25.jsonl and bench/results/bm25.md.
# Environment: SHARED (data root, default ../shared), COLLECTIONS, REPEAT.
#
# The two peers get explicit rules: they do not use liblctx, so they build and
# run even while the library does not (the generic bench rule links
# liblctx.a into every benchmark). All three depend on the shared harness
# header, which the generic rule cannot know about.

BM25_BENCH_BIN := $(BUILD)/bench-bm25 $(BUILD)/bench-fts5 $(BUILD)/bench-xapian

$(BUILD)/bench-bm25: bench/bm25_common.h

$(BUILD)/bench-fts5: bench/bench-fts5.c bench/bm25_common.h | deps-bench
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_REL) -o $@ $< $(PKG_LIBS)

$(BUILD)/bench-xapian: bench/bench-xapian.cc bench/bm25_common.h | deps-bench
	@mkdir -p $(dir $@)
	$(CXX) -O3 -march=native -g -Wall -Wextra $(INCS) $(PKG_CFLAGS) \
	  $(shell pkg-config --cflags xapian-core 2>/dev/null) -o $@ $< \
	  $(shell pkg-config --libs xapian-core 2>/dev/null) $(PKG_LIBS)

.PHONY: bench-bm25
bench-bm25: $(BM25_BENCH_BIN) $(BUILD)/lctx-eval
	BUILD=$(BUILD) SHARED="$(SHARED)" BM25_NO_BUILD=1 tools/bench-bm25.sh

BENCH_TARGETS += bench-bm25

# `make bench-scale`: lctx and FTS5 on millions of documents (170 copies of
# the ten collections, 3.2 GB of JSONL; about 10 minutes and 13 GB of disk
# on the development machine), so not part of `make bench`. SCALE_COPIES
# and SCALE_ROUNDS change the size and the rounds.
.PHONY: bench-scale
bench-scale:
	SHARED="$(SHARED)" tools/bench-scale.sh $(or $(SCALE_COPIES),170) $(or $(SCALE_ROUNDS),1)

# `make bench-churn`: a collection after 200 days of upserts and compactions
# against a fresh build of the same documents (tools/churn.sh; about 30 s),
# appended to bench/results/churn.jsonl. Not part of `make bench`: it
# measures the index's size, not a peer.
.PHONY: bench-churn
bench-churn: $(BUILD)/lctx-index $(BUILD)/lctx-search
	LCTX_INDEX=$(BUILD)/lctx-index LCTX_SEARCH=$(BUILD)/lctx-search \
	  tools/churn.sh 200 500 20 "$(SHARED)/data/ir/lisa" | tee -a bench/results/churn.jsonl
