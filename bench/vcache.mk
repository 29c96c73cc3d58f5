# vcache.mk — `make bench-vcache`: a collection's vector search from LMDB
# against the in-memory vector cache (LCTX_OPEN_VECTOR_CACHE), on 21K
# USE-lite vectors built from three dev collections (tools/bench-vcache.sh).

.PHONY: bench-vcache
bench-vcache: $(BUILD)/bench-vcache $(BUILD)/lctx-index | deps-bench deps-model model
	BUILD=$(BUILD) SHARED="$(SHARED)" tools/bench-vcache.sh

BENCH_TARGETS += bench-vcache
