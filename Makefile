# headershim - see README.md. Targets: all check check-servers bench demo
# install fuzz clean. `make CC=clang` and `make SAN=1` (ASan+UBSan, in
# build-san/) work for every target.

CC      ?= cc
PREFIX  ?= /usr/local
SAN     ?=

ifeq ($(SAN),1)
B        := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# One sanitizer runtime, shared, for the preloaded library and the programs
# alike: gcc does that by default, clang needs -shared-libsan and the path.
ifneq ($(findstring clang,$(shell $(CC) --version 2>/dev/null | head -n 1)),)
SANLINK  := -shared-libsan -Wl,-rpath,$(dir $(shell $(CC) -print-file-name=libclang_rt.asan-x86_64.so))
endif
else
B        := build
SANFLAGS :=
endif

# No _FILE_OFFSET_BITS: the shim defines both sendfile and sendfile64
# (../shared/reference/interposition.md 5.8).
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CFLAGS   ?= -O2 -g
ALLCFLAGS = -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(SANFLAGS) -Iinclude -Ishim/core -fPIC -fvisibility=hidden
LIBFLAGS  = -ftls-model=initial-exec
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell pkg-config --libs check 2>/dev/null)

CORE_SRC  := $(sort $(wildcard shim/core/*.c))
SHELL_SRC := $(sort $(wildcard shim/shell/*.c))
CLI_SRC   := $(sort $(wildcard shim/cli/*.c))
PRESETS   := $(sort $(wildcard policies/*.policy))

CORE_OBJ  := $(CORE_SRC:%.c=$(B)/obj/%.o) $(B)/obj/presets.o
SHELL_OBJ := $(SHELL_SRC:%.c=$(B)/obj/%.o)
CLI_OBJ   := $(CLI_SRC:%.c=$(B)/obj/%.o)

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
# The parsers' and the shaped reading's scalar fallbacks (HS_HTTP1_NO_SIMD,
# for machines without SSE2) under the same tests: these suites again, with
# the core built without its SIMD paths.
NOSIMD_TESTS := test_golden test_rewrite_shapes test_rewrite_steady test_http1_response test_request_framing
NOSIMD_BIN   := $(NOSIMD_TESTS:%=$(B)/tests/%_nosimd)
ITEST_SRC := $(sort $(wildcard tests/integration/test_*.c))
ITEST_BIN := $(ITEST_SRC:tests/integration/%.c=$(B)/itests/%)
PROG_SRC  := $(sort $(wildcard tests/progs/*.c))
PROG_BIN  := $(PROG_SRC:tests/progs/%.c=$(B)/progs/%)
TESTLIB_SRC := $(sort $(wildcard tests/lib/*.c))
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(B)/obj/%.o)

LIB := $(B)/libheadershim.so
CMD := $(B)/headershim

# Objects made by pattern rules are kept, so that parallel and repeated
# builds never lose a test library object halfway.
.SECONDARY:

.PHONY: all check unit integration check-servers bench demo install fuzz clean check-deps
all: $(LIB) $(CMD)

$(B)/obj/%.o: %.c include/headershim.h $(wildcard shim/core/*.h shim/shell/*.h shim/cli/*.h tests/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(LIBFLAGS) $(CHECK_CFLAGS) -c $< -o $@

# The presets are compiled in, so library and command work with no files
# around them.
$(B)/gen/presets.c: tools/embed_presets.c $(PRESETS)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O1 -o $(B)/gen/embed_presets tools/embed_presets.c
	$(B)/gen/embed_presets $(PRESETS) > $@

$(B)/obj/presets.o: $(B)/gen/presets.c include/headershim.h
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -c $< -o $@

$(LIB): $(CORE_OBJ) $(SHELL_OBJ)
	$(CC) $(SANFLAGS) $(SANLINK) -shared -Wl,-z,now -Wl,--no-undefined -o $@ $^ -ldl -lpthread

$(CMD): $(CORE_OBJ) $(CLI_OBJ)
	$(CC) $(SANFLAGS) $(SANLINK) -o $@ $^

$(B)/tests/%: tests/unit/%.c $(CORE_OBJ) $(TESTLIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(CHECK_CFLAGS) -Itests/lib -o $@ $< $(CORE_OBJ) $(TESTLIB_OBJ) $(CHECK_LIBS) $(SANLINK)

$(B)/tests/%_nosimd: tests/unit/%.c $(CORE_SRC) $(B)/gen/presets.c $(TESTLIB_OBJ) include/headershim.h $(wildcard shim/core/*.h tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -DHS_HTTP1_NO_SIMD $(CHECK_CFLAGS) -Itests/lib -o $@ $< $(CORE_SRC) $(B)/gen/presets.c $(TESTLIB_OBJ) $(CHECK_LIBS) $(SANLINK)

$(B)/itests/%: tests/integration/%.c $(TESTLIB_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) $(CHECK_CFLAGS) -Itests/lib -o $@ $< $(TESTLIB_OBJ) $(CORE_OBJ) $(CHECK_LIBS) -lpthread $(SANLINK)

$(B)/progs/%: tests/progs/%.c
	@mkdir -p $(dir $@)
	$(CC) $(ALLCFLAGS) -o $@ $< -lpthread -ldl $(SANLINK)

check-deps:
	@sh tools/need-check.sh

unit: check-deps $(UNIT_BIN) $(NOSIMD_BIN)
	@sh tests/run.sh unit $(UNIT_BIN) $(NOSIMD_BIN)

integration: check-deps $(LIB) $(CMD) $(ITEST_BIN) $(PROG_BIN)
	@HS_BUILD=$(B) sh tests/run.sh integration $(ITEST_BIN)

check: check-deps $(LIB) $(CMD) $(UNIT_BIN) $(NOSIMD_BIN) $(ITEST_BIN) $(PROG_BIN)
	@HS_BUILD=$(B) sh tests/run.sh all $(UNIT_BIN) $(NOSIMD_BIN) $(ITEST_BIN)

check-servers: $(LIB) $(CMD)
	@HS_BUILD=$(B) sh tests/servers/run.sh

# libFuzzer harnesses (clang only): make fuzz FUZZ_SECONDS=60
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 30
build-fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(wildcard shim/core/*.h tests/unit/*.h) include/headershim.h $(B)/gen/presets.c
	@mkdir -p build-fuzz
	clang -std=c11 -D_GNU_SOURCE -g -O1 -Iinclude -Ishim/core -fsanitize=fuzzer,address,undefined -o $@ $< $(CORE_SRC) $(B)/gen/presets.c
fuzz: $(FUZZ_BIN)
	@sh tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

bench: $(LIB) $(CMD)
	@$(MAKE) -s -C bench B=../$(B)

demo: $(LIB) $(CMD) $(B)/progs/legacy_server
	@sh tools/demo.sh $(B)

install: $(LIB) $(CMD)
	install -d $(DESTDIR)$(PREFIX)/lib/headershim $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/headershim/policies
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/headershim/libheadershim.so
	install -m 0755 $(CMD) $(DESTDIR)$(PREFIX)/bin/headershim
	install -m 0644 $(PRESETS) $(DESTDIR)$(PREFIX)/share/headershim/policies/

clean:
	rm -rf build build-san build-fuzz
