# tsan.mk — the write path under ThreadSanitizer.
#
# Indexing runs on up to three threads (the caller, the tokenizing worker,
# the catalog's commit thread), and `make test` builds with ASan+UBSan,
# which see no data races. This builds the library and bench-bm25's lctx
# program with -fsanitize=thread in $(BUILD)/tsan and indexes two dev
# collections with them (three builds each: the caller tokenizes whenever
# the worker has a backlog, and shares it at commit), then runs
# tools/tsan-follow.c: three threads searching one handle while lctx-index
# rebuilds and compacts the collection in other processes, so that handle
# keeps moving to new index generations. It fails on any report.
# Not part of `make test`: it needs ../shared's collections and a few
# minutes. The Criterion tests cannot run under TSan here (Criterion's
# shared arena fails to map beside TSan's shadow memory).
#
#   make check-tsan [TSAN_COLLECTIONS="npl time"]

TSAN_DIR := $(BUILD)/tsan
TSAN_OBJ := $(LIB_SRC:%.c=$(TSAN_DIR)/%.o)
TSAN_COLLECTIONS ?= dbpedia_entity_subset time
CFLAGS_TSAN = -std=c11 $(WARN) $(DEFS) $(INCS) $(PKG_CFLAGS) -O1 -g -fsanitize=thread -MMD -MP

$(TSAN_DIR)/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_TSAN) -c $< -o $@

$(TSAN_DIR)/liblctx.a: $(TSAN_OBJ)
	rm -f $@ && ar rcs $@ $^

$(TSAN_DIR)/bench-bm25: bench/bench-bm25.c bench/bm25_common.h $(TSAN_DIR)/liblctx.a
	$(CC) $(CFLAGS_TSAN) -o $@ $< $(TSAN_DIR)/liblctx.a $(PKG_LIBS)

$(TSAN_DIR)/tsan-follow: tools/tsan-follow.c $(TSAN_DIR)/liblctx.a
	$(CC) $(CFLAGS_TSAN) -o $@ $< $(TSAN_DIR)/liblctx.a $(PKG_LIBS)

.PHONY: check-tsan
check-tsan: $(TSAN_DIR)/bench-bm25 $(TSAN_DIR)/tsan-follow $(BUILD)/lctx-index
	@set -e; for c in $(TSAN_COLLECTIONS); do \
	  d=$(SHARED)/data/ir/$$c; [ -f $$d/corpus.jsonl ] || { echo "check-tsan: $$d missing"; exit 1; }; \
	  rm -rf $(TSAN_DIR)/work; mkdir -p $(TSAN_DIR)/work; \
	  echo "check-tsan: $$c"; \
	  OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
	    $(TSAN_DIR)/bench-bm25 --builds 3 --repeat 1 --corpus $$d/corpus.jsonl \
	    --queries $$d/queries.jsonl --index $(TSAN_DIR)/work/index \
	    --run $(TSAN_DIR)/work/run.trec >/dev/null; \
	done; \
	echo "check-tsan: batches that spill on both lanes (lisa, 64 KiB batch memory)"; \
	rm -rf $(TSAN_DIR)/work; mkdir -p $(TSAN_DIR)/work; \
	LCTX_BENCH_BATCH_MEMORY=65536 OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
	  $(TSAN_DIR)/bench-bm25 --builds 2 --repeat 1 --corpus $(SHARED)/data/ir/lisa/corpus.jsonl \
	  --queries $(SHARED)/data/ir/lisa/queries.jsonl --index $(TSAN_DIR)/work/index \
	  --run $(TSAN_DIR)/work/run.trec >/dev/null; \
	echo "check-tsan: searches while other processes replace the index (cranfield)"; \
	rm -rf $(TSAN_DIR)/work; mkdir -p $(TSAN_DIR)/work; \
	OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS=halt_on_error=1:exitcode=66 \
	  $(TSAN_DIR)/tsan-follow $(SHARED)/data/ir/cranfield/corpus.jsonl $(BUILD)/lctx-index \
	  $(TSAN_DIR)/work; \
	echo "check-tsan: no data race reported"

-include $(TSAN_OBJ:.o=.d)
