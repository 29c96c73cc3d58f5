# bench/eval.mk — `make eval`: retrieval quality on the IR dev collections.
#
# Builds the commands, then tools/eval.sh indexes each collection under
# $(SHARED)/data/ir into $(BUILD)/eval/, runs its queries in batch mode with
# --qrels, prints a markdown table and writes bench/results/eval.jsonl and
# bench/results/eval.md. EVAL_MODE lists the retrieval modes (default: bm25,
# vector and hybrid, all on one index per collection built with
# --embedder use-lite, or $LCTX_EVAL_EMBEDDER); EVAL_COLLECTIONS narrows the
# set, e.g.
#   make eval EVAL_COLLECTIONS="cranfield adi"
#   make eval EVAL_MODE=bm25          # keyword only: no embedding
#   make eval-hybrid
# Embedding all ten collections with USE-lite takes minutes on many cores
# (3.6 min on 16) and much longer on two.

SHARED ?= ../shared
EVAL_MODE ?= bm25 vector hybrid
EVAL_COLLECTIONS ?= cranfield cisi cacm med npl lisa time adi \
                    msmarco_dl19_passage_subset dbpedia_entity_subset

.PHONY: eval eval-hybrid

eval: $(BUILD)/lctx-index $(BUILD)/lctx-search $(BUILD)/lctx-eval
	tools/eval.sh --build $(BUILD) --shared $(SHARED) --collections "$(EVAL_COLLECTIONS)" $(EVAL_MODE)

eval-hybrid: $(BUILD)/lctx-index $(BUILD)/lctx-search $(BUILD)/lctx-eval
	tools/eval.sh --build $(BUILD) --shared $(SHARED) --collections "$(EVAL_COLLECTIONS)" hybrid
