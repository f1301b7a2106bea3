# any-llm-gateway: one non-recursive Makefile (see README.md for the two commands).
#   make run        install missing packages, build, start the gateway on SQLite
#   make test       install missing packages, run every test plain and sanitized
#   make SAN=1 ...  AddressSanitizer + UndefinedBehaviorSanitizer build in build-san/
#   make TSAN=1 ... ThreadSanitizer build in build-tsan/

VERSION := 0.1.0
SAN ?= 0
TSAN ?= 0

# BUILD may be overridden (make BUILD=build-x) to keep separate trees side by side.
ifeq ($(TSAN),1)
BUILD ?= build-tsan
OPT := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
else ifeq ($(SAN),1)
BUILD ?= build-san
OPT := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD ?= build
OPT := -O2 -g
endif

PKGS := libevent libevent_pthreads libcurl jansson libpq yaml-0.1 sqlite3 libcrypto zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_FLAGS := $(shell pkg-config --cflags --libs check 2>/dev/null)

CC ?= cc
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes -Wvla
CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DGW_VERSION='"$(VERSION)"' \
          $(WARN) $(OPT) -pthread -Isrc -I$(BUILD)/gen $(PKG_CFLAGS) -MMD -MP
LDFLAGS := $(OPT) -pthread
LDLIBS := $(PKG_LIBS) -lm

LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c src/gateway/*/*.c src/acct/*.c src/providers/*.c src/db/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o $(BUILD)/gen/web.o
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
SUITES := $(patsubst tests/check_%.c,%,$(filter-out tests/check_main.c,$(wildcard tests/check_*.c)))
MIGRATIONS := $(sort $(wildcard migrations/sqlite/*.sql migrations/postgres/*.sql))
FMT_SRCS := $(wildcard src/*.[ch] src/*/*.[ch] src/*/*/*.[ch] tests/*.[ch] tests/fuzz/*.[ch] tests/soak/*.[ch] bench/*.[ch] scripts/*.c)

BIN := $(BUILD)/any-llm-gateway
TESTBIN := $(BUILD)/check_gateway
FAKE := $(BUILD)/fake-upstream
FAKE_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/fake_*.c))

.PHONY: all run test check deps deps-test sdk-deps bench soak format format-check clean
.DEFAULT_GOAL := all

all: $(BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/migrations.c: $(MIGRATIONS) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	scripts/embed-sql.sh $(MIGRATIONS) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS) -c $< -o $@

# The web assets (web/: dashboard, /docs, openapi.json) as C arrays, by a generator built first
# (scripts/embed-web.c: content types, SHA-256 hashes, ?v= references in HTML, gzip copies).
# The directories are prerequisites too, so adding or removing a file regenerates web.c.
WEB_FILES := $(shell find web -type f ! -name '.*' ! -name 'README*' ! -name VERSION 2>/dev/null | LC_ALL=C sort)
WEB_DIRS := $(shell find web -type d 2>/dev/null)
EMBED_WEB := $(BUILD)/embed-web

$(EMBED_WEB): scripts/embed-web.c src/sha256.c src/sha256.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) -O2 -Isrc -o $@ scripts/embed-web.c \
	    src/sha256.c $(shell pkg-config --libs libcrypto zlib 2>/dev/null)

$(BUILD)/gen/web.c: $(WEB_FILES) $(WEB_DIRS) $(EMBED_WEB)
	@mkdir -p $(dir $@)
	$(EMBED_WEB) web $(WEB_FILES) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/web.o: $(BUILD)/gen/web.c src/gateway/http/gw_static.h
	$(CC) $(CFLAGS) -c $< -o $@

# One line per test suite file (tests/check_<name>.c defines <name>_suite()).
$(BUILD)/gen/suites.h: $(wildcard tests/check_*.c)
	@mkdir -p $(dir $@)
	@printf '%s\n' $(foreach s,$(SUITES),'GW_SUITE($(s))') > $@.tmp && mv $@.tmp $@

$(BUILD)/libgateway.a: $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(BUILD)/src/main.o $(BUILD)/libgateway.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%.o: tests/%.c | $(BUILD)/gen/suites.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(CHECK_FLAGS) -Itests -include tests/t_suites.h -c $< -o $@

$(TESTBIN): $(filter-out $(FAKE_OBJS),$(TEST_OBJS)) $(BUILD)/libgateway.a
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_FLAGS) $(LDLIBS)

# A fake provider for the end-to-end tests (tests/fake_*.c: OpenAI, Anthropic, Gemini/Vertex,
# Cohere, Ollama and Voyage wires, Azure, watsonx, AWS; libcrypto for base64 embeddings and
# SigV4, zlib for event-stream CRCs; tests/t_awsframe.c is shared with the test runner).
$(FAKE): $(FAKE_OBJS) $(BUILD)/tests/t_awsframe.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The official SDKs (npm) the end-to-end tests drive the gateway with, in an ignored folder.
sdk-deps:
	@scripts/sdk-deps.sh

deps:
	@scripts/deps.sh build

deps-test:
	@scripts/deps.sh test

run: deps
	@$(MAKE) --no-print-directory -j$(NPROC) all
	./$(BIN) serve $(if $(wildcard config.yaml),--config config.yaml) $(ARGS)

# The test runner starts the real binary (GW_BIN) for the end-to-end suites: every suite on
# SQLite, then the end-to-end suites again on a throwaway PostgreSQL cluster (GW_TEST_BACKEND).
# CK_RUN_SUITE=name runs one suite, ONLY="a b" some; BACKENDS="sqlite" or "postgres" one pass.
BACKENDS ?= sqlite postgres
ONLY ?=
CK_MULT := $(if $(filter 1,$(TSAN)),6,$(if $(filter 1,$(SAN)),4,1))
# The ThreadSanitizer pass of make test: on SQLite the suites where threads share state (worker
# loops, usage writer, SQLite thread, log writer, signal thread, httpc, index and budgets); on
# PostgreSQL the replica, fault, budget and billing suites (sync thread, connection pool). A race
# halts the gateway (exit 66), which the clean-shutdown checks catch.
TSAN_SQLITE_SUITES := e2e_chat e2e_anthropic e2e_billing e2e_budgets e2e_http e2e_edge e2e_keys conn \
                      usage_writer db httpc log index budget metrics e2e_metrics rate e2e_rate
TSAN_PG_SUITES := e2e_replicas e2e_faults e2e_budgets e2e_billing e2e_metrics e2e_rate
export TSAN_OPTIONS ?= halt_on_error=1 exitcode=66 second_deadlock_stack=1
# The backends' passes run side by side (most test time is spent waiting on sockets and timers,
# and each pass has its own ports, directories and databases): the first backend's output goes
# straight to the terminal, the others' is kept in $(BUILD)/check-<backend>.log and printed
# after it. CHECK_SERIAL=1 runs them one after the other.
# Each backend's pass itself runs as CHECK_SHARDS shards side by side (every n-th suite each,
# each PostgreSQL shard on its own cluster; CHECK_SHARDS=1: one run), named sqlite.0, sqlite.1,
# postgres.0, ...; each run's tests and their durations are in $(BUILD)/check-<run>.xml (Check's
# XML log).
CHECK_SERIAL ?= 0
CHECK_SHARDS ?= 2
CHECK_RUNS := $(foreach b,$(BACKENDS),$(if $(filter-out 1,$(CHECK_SHARDS)),$(foreach i,$(shell seq 0 $$(($(CHECK_SHARDS) - 1))),$(b).$(i)),$(b)))
CHECK_RUN = GW_TEST_BACKEND=$${b%%.*} GW_TEST_SHARD=$$(case $$b in *.*) echo $${b\#*.}/$(CHECK_SHARDS);; esac) \
	    GW_BIN=$(abspath $(BIN)) GW_FAKE=$(abspath $(FAKE)) \
	    GW_ROOT=$(CURDIR) GW_TEST_SUITES="$(ONLY)" CK_TIMEOUT_MULTIPLIER=$(CK_MULT) \
	    CK_XML_LOG_FILE_NAME=$(abspath $(BUILD))/check-$$b.xml ./$(TESTBIN)
check: $(BIN) $(TESTBIN) $(FAKE) sdk-deps
	@set -e; first=$(firstword $(CHECK_RUNS)); rest="$(wordlist 2,9,$(CHECK_RUNS))"; \
	if [ "$(CHECK_SERIAL)" = 1 ]; then first=""; rest="$(CHECK_RUNS)"; fi; \
	for b in $$rest; do \
	    if [ -n "$$first" ]; then \
	        rm -f $(BUILD)/check-$$b.rc; \
	        ( $(CHECK_RUN) > $(BUILD)/check-$$b.log 2>&1 && echo 0 > $(BUILD)/check-$$b.rc || \
	          echo 1 > $(BUILD)/check-$$b.rc ) & \
	    fi; \
	done; \
	rc=0; \
	if [ -n "$$first" ]; then b=$$first; echo "== tests on $$b =="; $(CHECK_RUN) || rc=1; wait; \
	    for b in $$rest; do echo "== tests on $$b =="; cat $(BUILD)/check-$$b.log; \
	        [ "$$(cat $(BUILD)/check-$$b.rc 2>/dev/null)" = 0 ] || rc=1; done; \
	else for b in $$rest; do echo "== tests on $$b =="; $(CHECK_RUN) || rc=1; done; fi; \
	exit $$rc

NPROC := $(shell nproc 2>/dev/null || echo 2)

# Each phase prints when it starts (elapsed seconds since make test began), so a slow phase shows.
T0 := $(shell date +%s)
PHASE = @echo "== $(1) (t+$$(( $$(date +%s) - $(T0) )) s)"

test: deps-test
	$(call PHASE,format check)
	@$(MAKE) --no-print-directory format-check
	$(call PHASE,plain build)
	@$(MAKE) --no-print-directory -j$(NPROC) $(BIN) $(TESTBIN) $(FAKE)
	$(call PHASE,plain tests)
	@$(MAKE) --no-print-directory check
	$(call PHASE,sanitizer build; container and compose tests in the background)
	@$(CONTAINER_BG)
	@$(MAKE) --no-print-directory -j$(NPROC) SAN=1 BUILD=build-san build-san/any-llm-gateway \
	    build-san/check_gateway build-san/fake-upstream
	$(call PHASE,sanitizer tests)
	@$(MAKE) --no-print-directory SAN=1 BUILD=build-san check
	$(call PHASE,ThreadSanitizer build)
	@$(MAKE) --no-print-directory -j$(NPROC) TSAN=1 BUILD=build-tsan build-tsan/any-llm-gateway \
	    build-tsan/check_gateway build-tsan/fake-upstream
	$(call PHASE,ThreadSanitizer tests and fuzz targets side by side)
	@$(MAKE) --no-print-directory -j3 --output-sync=target tsan-check-sqlite tsan-check-postgres \
	    fuzz-check
	$(call PHASE,container and compose tests: waiting for the background run)
	@$(CONTAINER_WAIT)
	$(call PHASE,done)

# The ThreadSanitizer passes of make test, run side by side (their lists differ by backend).
.PHONY: tsan-check-sqlite tsan-check-postgres
tsan-check-sqlite:
	@$(MAKE) --no-print-directory TSAN=1 BUILD=build-tsan check BACKENDS=sqlite \
	    ONLY="$(TSAN_SQLITE_SUITES)"
tsan-check-postgres:
	@$(MAKE) --no-print-directory TSAN=1 BUILD=build-tsan check BACKENDS=postgres \
	    ONLY="$(TSAN_PG_SUITES)"

# The soak test (tests/soak/soak.c): a few minutes of mixed load on PostgreSQL with a database
# restart, then SIGTERM; one usage row per request, flat RSS. SOAK_SECONDS=n sets its length.
SOAK := $(BUILD)/soak
$(SOAK): $(BUILD)/tests/soak/soak.o $(BUILD)/tests/t_gw.o $(BUILD)/tests/t_pg.o \
         $(BUILD)/tests/t_fake.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

soak: deps-test
	@$(MAKE) --no-print-directory -j$(NPROC) $(BIN) $(FAKE) $(SOAK)
	GW_BIN=$(abspath $(BIN)) GW_FAKE=$(abspath $(FAKE)) GW_ROOT=$(CURDIR) ./$(SOAK)

# The benchmark (bench/README.md): every contender in one run; ARGS=--quick for a short one.
bench: deps
	@$(MAKE) --no-print-directory -j$(NPROC) $(BIN) $(BENCH_TOOLS)
	@bench/run.sh $(ARGS)

format:
	clang-format -i $(FMT_SRCS)

format-check:
	clang-format --dry-run -Werror $(FMT_SRCS)

clean:
	rm -rf build build-san build-tsan build-image $(FUZZ_BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

# --- bench (bench/) ---
# The benchmark's own tools (bench/README.md): the mock upstream and the load generator, built
# with their own flags (they are not part of the gateway or the tests).
BENCH_TOOLS := $(BUILD)/bench/mock $(BUILD)/bench/load
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE $(WARN) -O2 -g -pthread \
                $(shell pkg-config --cflags libevent libevent_pthreads 2>/dev/null)
BENCH_LIBS := $(shell pkg-config --libs libevent libevent_pthreads 2>/dev/null)

.PHONY: bench-tools
bench-tools: $(BENCH_TOOLS)

$(BUILD)/bench/%: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(BENCH_LIBS)

# --- fuzz (tests/fuzz/) ---
# libFuzzer targets built with clang (-fsanitize=fuzzer,address,undefined) in their own tree,
# linked with the project's library sources (not main.c) compiled there with the same sanitizers.
#   make fuzz          build every target, then fuzz each for FUZZ_SECONDS (new inputs are kept
#                      in build-fuzz/corpus/<target>/, crashes in build-fuzz/artifacts/)
#   make fuzz-check    (part of make test) replay each committed corpus, tests/fuzz/corpus/<target>/,
#                      then fuzz each target for FUZZ_CHECK_SECONDS; any crash fails
FUZZ_BUILD := build-fuzz
FUZZ_CC := clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 2
FUZZ_SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -DGW_VERSION='"$(VERSION)"' \
               $(WARN) -O1 -g $(FUZZ_SAN) -pthread -Isrc $(PKG_CFLAGS) -MMD -MP
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/%)
# Only the sources the targets use are compiled with clang (a target that needs another fails to
# link: add it here). prov_openai.c is #included by fuzz_openai.c for its static scanner.
FUZZ_LIB_SRCS := src/config.c src/config_env.c src/config_yaml.c src/log.c \
                 src/gateway/http/gw_frame.c src/providers/prov_dialect.c src/providers/prov_sse.c \
                 src/providers/prov_usage.c src/providers/prov_anthropic.c \
                 src/providers/prov_anthropic_req.c src/providers/prov_registry.c \
                 src/providers/prov_gemini.c src/providers/prov_gemini_req.c \
                 src/providers/prov_gemini_gen.c src/providers/prov_gemini_http.c \
                 src/providers/prov_gemini_embed.c src/providers/prov_embed.c \
                 src/providers/prov_pivot.c src/providers/prov_anthropic_vertex.c \
                 src/providers/prov_google.c src/providers/prov_cohere.c \
                 src/providers/prov_ollama.c src/providers/prov_voyage.c \
                 src/providers/prov_watsonx.c src/util.c src/providers/prov_awsstream.c \
                 src/providers/prov_sigv4.c src/sha256.c src/providers/prov_azure.c \
                 src/providers/prov_aws.c src/providers/prov_bedrock.c \
                 src/providers/prov_bedrock_req.c src/providers/prov_bedrock_call.c \
                 src/providers/prov_frame.c src/providers/prov_ndjson.c \
                 src/providers/prov_sagemaker.c src/jwrite.c
FUZZ_LIB_OBJS := $(FUZZ_LIB_SRCS:%.c=$(FUZZ_BUILD)/%.o)

.PHONY: fuzz fuzz-build fuzz-check
.SECONDARY: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/tests/fuzz/%.o)

fuzz-build: $(FUZZ_BINS)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BUILD)/libgateway.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -Itests/fuzz -c $< -o $@

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/libgateway.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $^ $(LDLIBS)

fuzz: deps-test
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-build
	@tests/fuzz/run.sh long $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

fuzz-check:
	@$(MAKE) --no-print-directory -j$(NPROC) fuzz-build
	@tests/fuzz/run.sh check $(FUZZ_BUILD) $(FUZZ_CHECK_SECONDS) $(FUZZ_TARGETS)

-include $(shell find $(FUZZ_BUILD) -name '*.d' 2>/dev/null)

# --- container image (docker/) ---
# make image: docker/Dockerfile as any-llm-gateway:latest, with docker or podman (scripts/image.sh).
# make container-check: the container end-to-end test alone (tests/container/run.sh); make
# compose-check: docker/docker-compose.yml brought up and checked (tests/container/compose.sh).
# make test starts both, one after the other, in the background when the sanitizer build starts
# (they are mostly waiting: on the network and dpkg for a cold image build, on the engine
# otherwise; the plain pass, whose timeouts have no sanitizer multiplier, runs before them) and
# collects their result at the end; their output is in build/container-test.log.
.PHONY: image container-check compose-check
image:
	@scripts/image.sh

container-check: $(FAKE)
	@GW_FAKE=$(abspath $(FAKE)) tests/container/run.sh

compose-check:
	@tests/container/compose.sh

CT_LOG := build/container-test
CONTAINER_BG = mkdir -p build && rm -f $(CT_LOG).rc && \
	( { tests/container/run.sh && tests/container/compose.sh; } > $(CT_LOG).log 2>&1; \
	  echo $$? > $(CT_LOG).rc ) </dev/null >/dev/null 2>&1 &
CONTAINER_WAIT = i=0; while [ ! -f $(CT_LOG).rc ] && [ $$i -lt 900 ]; do sleep 1; i=$$((i + 1)); done; \
	cat $(CT_LOG).log; [ "$$(cat $(CT_LOG).rc 2>/dev/null)" = 0 ] || \
	{ echo "container/compose test: FAILED (or still running after 900 s)" >&2; exit 1; }
