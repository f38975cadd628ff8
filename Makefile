# Rebuttal: `make run` starts the whole stack locally, `make test` tests it.
# `make SANITIZE=address,undefined test` builds into build/san and tests that.

PKGS     := libnats libwebsockets jansson hiredis libpq libprotobuf-c libsodium
SANITIZE ?=
BUILD    := build$(if $(SANITIZE),/san)
CC       ?= cc
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -pthread -MMD -MP \
            -I$(BUILD)/proto -Ilib $(if $(SANITIZE),-fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDFLAGS  += -pthread $(if $(SANITIZE),-fsanitize=$(SANITIZE))

# Every folder with a main.c is a part with a binary of the same name.
PARTS    := $(patsubst %/main.c,%,$(wildcard */main.c))
BINS     := $(addprefix $(BUILD)/bin/,$(PARTS))
PROTO_C  := $(BUILD)/proto/rebuttal.pb-c.c
LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(patsubst %.c,$(BUILD)/%.o,$(LIB_SRC)) $(BUILD)/proto/rebuttal.pb-c.o
LIB_A    := $(BUILD)/librb.a

TEST_COMMON := tests/runner.c tests/wsc.c tests/httpc.c
UNIT_SRC    := $(wildcard tests/unit_*.c)
INTEG_SRC   := $(wildcard tests/integ_*.c)

.SECONDEXPANSION:
# Keep objects made by chained rules (no rebuild of a whole part each run).
.SECONDARY:
.PHONY: all deps run test bench bench-msg bench-relay loadtest deploy-check test-containers format clean
all: deps $(BINS) $(BUILD)/tests/unit $(BUILD)/tests/integ $(BUILD)/tests/bench $(BUILD)/tests/loadgen

deps:
	@scripts/deps.sh

$(PROTO_C): proto/rebuttal.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=proto --c_out=$(@D) $<

$(BUILD)/proto/rebuttal.pb-c.o: $(PROTO_C)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Wno-unused-parameter -c $< -o $@

# Generated header must exist before anything that includes it is compiled.
$(BUILD)/%.o: %.c | $(PROTO_C)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c $< -o $@

# migrations.c embeds the SQL files of its folder (lib/embed.h).
$(BUILD)/%/migrations.o: $$(wildcard $$*/migrations/*.sql)

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

objs_of = $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(1)/*.c))
# authsvc's mmap/munmap must be what libsodium calls (authsvc/pwmem.c).
$(BUILD)/bin/authsvc: LDFLAGS += -Wl,--export-dynamic-symbol=mmap -Wl,--export-dynamic-symbol=munmap
$(BUILD)/bin/%: $$(call objs_of,$$*) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# Unit tests link the gateway's pure modules, not its loop.
$(BUILD)/tests/unit: $(patsubst %.c,$(BUILD)/%.o,$(UNIT_SRC) tests/runner.c) $(BUILD)/gateway/parse.o $(BUILD)/gateway/pbjson.o $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/integ: $(patsubst %.c,$(BUILD)/%.o,$(INTEG_SRC) $(TEST_COMMON)) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

$(BUILD)/tests/bench: $(patsubst %.c,$(BUILD)/%.o,tests/bench.c tests/rawws.c tests/integ_common.c $(TEST_COMMON)) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

# The bus-level load generator (tests/load/README.md).
$(BUILD)/tests/loadgen: $(patsubst %.c,$(BUILD)/%.o,$(wildcard tests/load/*.c)) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) -lm

run: all
	@scripts/run.sh

test: all
	@REBUTTAL_WAIT_FACTOR=$${REBUTTAL_WAIT_FACTOR:-$(if $(SANITIZE),3,1)} \
		BIN_DIR=$(BUILD)/bin TEST_DIR=$(BUILD)/tests scripts/test.sh $(T)

# Benchmarks against a fresh stack; prints a table (B=conns|msg|history|relay|presence for one).
bench: all
	@BIN_DIR=$(BUILD)/bin TEST_DIR=$(BUILD)/tests scripts/bench.sh $(B)
bench-msg: all
	@BIN_DIR=$(BUILD)/bin TEST_DIR=$(BUILD)/tests scripts/bench.sh msg history
bench-relay: all
	@BIN_DIR=$(BUILD)/bin TEST_DIR=$(BUILD)/tests scripts/bench.sh relay

# Per-service load tests against a fresh stack (SVC=authsvc|roomsvc|msgsvc|mediasvc for one;
# without SVC every service at 1 and 2 instances, table to docs/BENCHMARKS.md).
loadtest: all
	@BIN_DIR=$(BUILD)/bin TEST_DIR=$(BUILD)/tests scripts/loadtest.sh $(SVC)

# Offline checks of docker-compose.yml, Dockerfile and deploy/k8s (also in make test).
deploy-check:
	@tests/deploy/run.sh

# The image of ./Dockerfile and the whole stack in real containers on a Docker
# engine of its own (root; ~1 min with cached images, ~2–2.5 min the first time):
# smoke test, then a rolling restart of every container under traffic.  Also
# the last step of `make test` (scripts/test.sh).
test-containers:
	@tests/containers/run.sh

# Rewrites the C files to the house style (.clang-format); make test checks it.
format:
	@scripts/format.sh

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
