# attention.mk — the attention kernel benchmark.
#
# `make bench-attention` builds build/bench-attention and runs it with --json:
# dense tiled vs naive vs OpenBLAS sgemm (one thread each), the sliding
# window up to 1M tokens, Infini-attention and LSH attention. One JSON object
# per line on stdout; the same lines go to bench/results/attention.jsonl and
# a markdown table to bench/results/attention.md.
# BENCH_ATTN_ARGS=--quick runs small sizes only (a smoke run).

BENCH_ATTN_ARGS ?=

.PHONY: bench-attention
bench-attention: $(BUILD)/bench-attention
	@mkdir -p bench/results
	OPENBLAS_NUM_THREADS=1 $(BUILD)/bench-attention --json $(BENCH_ATTN_ARGS)

BENCH_TARGETS += bench-attention
