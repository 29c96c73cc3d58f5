# bench/eval.mk — `make eval`: retrieval quality on the IR dev collections.
#
# Builds the commands, then tools/eval.sh indexes each collection under
# $(SHARED)/data/ir into $(BUILD)/eval/, runs its queries in batch mode with
# --qrels, prints a markdown table and writes bench/results/eval.jsonl and
# bench/results/eval.md. EVAL_MODE picks the retrieval mode (bm25 now,
# hybrid once vectors exist); EVAL_COLLECTIONS narrows the set, e.g.
#   make eval EVAL_COLLECTIONS="cranfield adi"
#   make eval-hybrid

SHARED ?= ../shared
EVAL_MODE ?= bm25
EVAL_COLLECTIONS ?= cranfield cisi cacm med npl lisa time adi \
                    msmarco_dl19_passage_subset dbpedia_entity_subset

.PHONY: eval eval-hybrid

eval: $(BUILD)/lctx-index $(BUILD)/lctx-search $(BUILD)/lctx-eval
	tools/eval.sh --build $(BUILD) --shared $(SHARED) --collections "$(EVAL_COLLECTIONS)" $(EVAL_MODE)

eval-hybrid: $(BUILD)/lctx-index $(BUILD)/lctx-search $(BUILD)/lctx-eval
	tools/eval.sh --build $(BUILD) --shared $(SHARED) --collections "$(EVAL_COLLECTIONS)" hybrid
