# lctx — build, test, demo, benchmarks.
#
# The build is wildcard driven: every .c file in a module folder (store/,
# indexer/, attention/, query/) goes into the library; every cli/lctx-*.c is a
# command linked with the other cli/*.c files; every tests/test_*.c is one
# Criterion binary built with AddressSanitizer + UBSan; every bench/bench-*.c
# (or .cc) is one benchmark program. Adding a file never needs a Makefile edit.
#
# `make demo` and `make test` work on a fresh Debian machine: they depend on
# `deps`, which installs the Debian packages that are missing (as root, or
# through sudo), running `apt-get update` once first.

CC      ?= cc
CXX     ?= c++
BUILD   := build
PKGS    := sqlite3 lmdb openblas libcurl libutf8proc libcjson libcrypto icu-uc
# Linked: all but libcurl, libcrypto, OpenBLAS and ICU, whose headers lctx
# compiles with but which it opens with dlopen only when an HTTP embedder,
# a model download, an encoder or Thai text needs them (attention/dynlib.c,
# indexer/tok_sea.c): linked,
# they were loaded by every program that links lctx, and made start-up most
# of a one-shot BM25 query. Benchmarks that call BLAS themselves link
# OpenBLAS (BLAS_LIBS), and lctx then uses theirs.
LINK_PKGS := sqlite3 lmdb libutf8proc libcjson
# OpenBLAS is Debian's default (pthread) build. Not the serial one: lctx
# calls sgemm from several threads at once (one encoder batch per core),
# and Debian's serial build is not safe for that (built without
# USE_LOCKING): with it, USE-lite vectors came out corrupted under
# concurrent embedding (lisa's vector nDCG@10 fell from 0.180 to 0.151).
# The pthread build starts a pool at load whose threads spin for about
# 0.1 s; lctx sets them to one per call (attention/tensor.c) and the
# benchmarks run with OPENBLAS_NUM_THREADS=1 so no pool is started.
#
# Flags are asked of pkg-config on first use, not when the Makefile is read: on a
# fresh machine pkg-config and the .pc files only exist once `deps` has run,
# and every compile rule waits for `deps`. (Each variable replaces itself
# with its value the first time it is expanded, so pkg-config runs once.)
PKG_CFLAGS = $(eval PKG_CFLAGS := $$(shell pkg-config --cflags $$(PKGS) 2>/dev/null))$(PKG_CFLAGS)
PKG_LIBS   = $(eval PKG_LIBS := $$(shell pkg-config --libs $$(LINK_PKGS) 2>/dev/null) -lstemmer -lm -lpthread)$(PKG_LIBS)
# --no-as-needed: lctx refers to OpenBLAS only weakly (dynlib.c), which the
# linker does not count as a use.
BLAS_LIBS  = $(eval BLAS_LIBS := -Wl,--no-as-needed $$(shell pkg-config --libs openblas 2>/dev/null) -Wl,--as-needed)$(BLAS_LIBS)

WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes
DEFS    := -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64
INCS    := -Iinclude -I.
OPT     ?= -O3 -march=native
CFLAGS_REL  = -std=c11 $(WARN) $(DEFS) $(INCS) $(PKG_CFLAGS) $(OPT) -g -fPIC -fvisibility=hidden -MMD -MP
CFLAGS_SAN  = -std=c11 $(WARN) $(DEFS) $(INCS) $(PKG_CFLAGS) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined -MMD -MP
LDFLAGS_SAN := -fsanitize=address,undefined

# MODULES lets one engineer build only the modules a test needs, in a build
# directory of their own: make BUILD=build-me MODULES=attention build-me/tests/test_x
MODULES  ?= store indexer attention query
LIB_SRC  := $(sort $(wildcard $(addsuffix /*.c,$(MODULES))))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
SAN_OBJ  := $(LIB_SRC:%.c=$(BUILD)/san/%.o)

CLI_MAIN := $(sort $(wildcard cli/lctx-*.c))
CLI_COMMON_SRC := $(filter-out $(CLI_MAIN),$(wildcard cli/*.c))
CLI_COMMON_OBJ := $(CLI_COMMON_SRC:%.c=$(BUILD)/obj/%.o)
CLI_BIN  := $(CLI_MAIN:cli/%.c=$(BUILD)/%)

TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_SUPPORT_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/san/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
CLI_SAN_COMMON_OBJ := $(CLI_COMMON_SRC:%.c=$(BUILD)/san/%.o)
CLI_SAN_BIN := $(CLI_MAIN:cli/%.c=$(BUILD)/san/%)

BENCH_C  := $(sort $(wildcard bench/bench-*.c))
BENCH_CC := $(sort $(wildcard bench/bench-*.cc))
BENCH_BIN := $(BENCH_C:bench/%.c=$(BUILD)/%) $(BENCH_CC:bench/%.cc=$(BUILD)/%)

DEB_PKGS := build-essential pkg-config libsqlite3-dev liblmdb-dev libopenblas-dev \
            libcurl4-openssl-dev libcriterion-dev libutf8proc-dev libstemmer-dev \
            libcjson-dev libreadline-dev libssl-dev libicu-dev
# eatmydata: bench-bm25 with NOSYNC=1 runs every engine with fsync turned
# off, to show how much of an indexing time is waiting for the disk.
BENCH_DEB_PKGS := sqlite3 jq libxapian-dev libfaiss-dev libhnswlib-dev gnuplot-nox eatmydata
MODEL_DEB_PKGS := nodejs npm

.PHONY: all lib cli test demo deps deps-bench deps-model bench bench-attention \
        bench-encoders bench-vectors eval model clean install
.DEFAULT_GOAL := all

all: deps lib cli

# ---------------------------------------------------------------- packages
# Install only what is missing, so the common case (everything present) costs
# one dpkg query. Runs apt-get update once, before the first install.
define install_missing
	@missing=""; for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	fi
endef

deps:
	$(call install_missing,$(DEB_PKGS))
deps-bench: deps
	$(call install_missing,$(BENCH_DEB_PKGS))
# npm may come from outside Debian (nodesource); only install Debian's when absent.
deps-model: deps
	@command -v npm >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(MODEL_DEB_PKGS) >/dev/null; }

# ---------------------------------------------------------------- library
lib: $(BUILD)/liblctx.a $(BUILD)/liblctx.so

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_REL) -c $< -o $@

$(BUILD)/san/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -c $< -o $@

$(BUILD)/liblctx.a: $(LIB_OBJ)
	@mkdir -p $(BUILD)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/liblctx.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(PKG_LIBS)

$(BUILD)/liblctx-san.a: $(SAN_OBJ)
	@mkdir -p $(BUILD)
	rm -f $@ && ar rcs $@ $^

# ---------------------------------------------------------------- commands
cli: $(CLI_BIN)

$(BUILD)/lctx-%: $(BUILD)/obj/cli/lctx-%.o $(CLI_COMMON_OBJ) $(BUILD)/liblctx.a
	$(CC) -o $@ $^ $(PKG_LIBS) -lreadline

# Sanitized copies of the commands, used by the end-to-end tests.
$(BUILD)/san/lctx-%: $(BUILD)/san/cli/lctx-%.o $(CLI_SAN_COMMON_OBJ) $(BUILD)/liblctx-san.a
	$(CC) $(LDFLAGS_SAN) -o $@ $^ $(PKG_LIBS) -lreadline

# ---------------------------------------------------------------- tests
$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/liblctx-san.a | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_SAN) -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/liblctx-san.a \
	  $(LDFLAGS_SAN) $(PKG_LIBS) -lcriterion

# bench/bench-vectors-peers.cc is C++ and includes query/query.h (and through
# it the other module headers): compiling that header as C++ with every test
# run keeps a C-only construct from breaking `make bench` unnoticed, as an
# implicit conversion from void * in indexer.h once did.
$(BUILD)/cxx-headers.ok: $(wildcard */*.h include/*.h) | deps
	@mkdir -p $(dir $@)
	printf 'extern "C" {\n#include "query/query.h"\n}\n' | \
	  $(CXX) -fsyntax-only -x c++ $(INCS) $(DEFS) $(PKG_CFLAGS) - && touch $@

# Every test binary runs even when an earlier one fails; the target fails if
# any did. The last line sums Criterion's counts over all binaries.
test: deps model $(BUILD)/cxx-headers.ok $(TEST_BIN) $(CLI_SAN_BIN) $(CLI_BIN)
	@failed=0; pass=0; fail=0; log=$(BUILD)/tests/last.log; \
	for t in $(TEST_BIN); do \
	  echo "== $$t"; \
	  LCTX_BUILD=$(BUILD) ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $$t --jobs 2 >$$log 2>&1; rc=$$?; cat $$log; \
	  line=$$(grep -a 'Synthesis: Tested' $$log | tail -1); \
	  p=$$(echo "$$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p'); \
	  f=$$(echo "$$line" | sed -n 's/.*Failing: \([0-9]*\) | Crashing: \([0-9]*\).*/\1 \2/p'); \
	  pass=$$((pass + $${p:-0})); for x in $$f; do fail=$$((fail + x)); done; \
	  if [ $$rc -ne 0 ] || [ -z "$$line" ]; then \
	    failed=$$((failed+1)); echo "!! $$t exited with status $$rc"; \
	    [ -n "$$line" ] || fail=$$((fail+1)); \
	  fi; \
	done; \
	echo "tests: $$pass passed, $$fail failed"; \
	[ $$failed -eq 0 ]

# ---------------------------------------------------------------- benchmarks
$(BUILD)/bench-%: bench/bench-%.c $(BUILD)/liblctx.a | deps-bench
	$(CC) $(CFLAGS_REL) -o $@ $< $(BUILD)/liblctx.a $(PKG_LIBS) $(BLAS_LIBS)

$(BUILD)/bench-%: bench/bench-%.cc $(BUILD)/liblctx.a | deps-bench
	$(CXX) -O3 -march=native -g $(INCS) -o $@ $< $(BUILD)/liblctx.a $(PKG_LIBS) $(BLAS_LIBS) \
	  $(shell pkg-config --libs xapian-core 2>/dev/null) -lfaiss

# Each benchmark family brings its own targets (bench-bm25, bench-attention, ...).
-include $(wildcard bench/*.mk)

bench: $(BENCH_TARGETS)

# ---------------------------------------------------------------- demo
# Builds, fetches the default model, indexes the bundled sample corpus into a
# fresh collection with USE-lite vectors and answers a sample query with
# hybrid (BM25 + vector) search.
DEMO_COLL := $(BUILD)/demo/sample.lctx
DEMO_QUERY ?= how do I configure a network interface
demo: deps lib cli model
	@rm -rf $(DEMO_COLL) && mkdir -p $(dir $(DEMO_COLL))
	LCTX_MODEL_DIR=$(MODEL_DIR) $(BUILD)/lctx-index -c $(DEMO_COLL) --embedder use-lite data/sample/corpus.jsonl
	$(BUILD)/lctx-index -c $(DEMO_COLL) --stats
	LCTX_MODEL_DIR=$(MODEL_DIR) $(BUILD)/lctx-search -c $(DEMO_COLL) -k 5 "$(DEMO_QUERY)"

# ---------------------------------------------------------------- housekeeping
PREFIX ?= /usr/local
install: lib cli
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin \
	           $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/lctx.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/liblctx.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/liblctx.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(CLI_BIN) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|' lctx.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lctx.pc

clean:
	rm -rf $(BUILD)

# Objects are never intermediate: keep them so rebuilds stay incremental.
.SECONDARY:

-include $(LIB_OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(CLI_COMMON_OBJ:.o=.d) $(CLI_SAN_COMMON_OBJ:.o=.d)
-include $(CLI_MAIN:%.c=$(BUILD)/obj/%.d) $(CLI_MAIN:%.c=$(BUILD)/san/%.d) $(TEST_BIN:=.d)
