# compact.mk — `make bench-compact`: what renumbering ids adds to a
# compaction (bench/bench-compact.c), on three dev collections with half
# their documents deleted; JSON lines and a markdown table in bench/results.

.PHONY: bench-compact
bench-compact: $(BUILD)/bench-compact | deps-bench
	BUILD=$(BUILD) SHARED="$(SHARED)" tools/bench-compact.sh

BENCH_TARGETS += bench-compact
