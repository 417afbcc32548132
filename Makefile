# vggpipe — transfer-learning image classification as Unix filters.
#
#   make            build bin/* and build/libvggpipe.a
#   make check      run the test suite (prove)
#   make check-asan unit and stream tests under ASan + UBSan
#   make deps       install the Debian packages the tools and the demo need
#   make test-deps  those and the tests' references, sanitizers and tools
#   make demo       the whole pipeline on the example dataset
#   make bench      benchmarks, side by side with peers
#   make mutate     the mutation harness: does every test bite?
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
BUILD   ?= build
OUT     ?= bin

CC      ?= cc
CFLAGS  ?= -O2 -g
PKG_CONFIG ?= pkg-config

# The CBLAS: OpenBLAS picks its kernels from the CPU at run time
# (DYNAMIC_ARCH), so one binary runs its AVX-512 kernels where they exist
# and stays correct where they do not. GSL links against it too, not
# against GSL's reference CBLAS.
BLAS_PKG = openblas

pkg_cflags = $(if $(strip $(1)),$(shell $(PKG_CONFIG) --cflags $(1)))
pkg_libs   = $(if $(strip $(1)),$(shell $(PKG_CONFIG) --libs $(1)))

# The library's layers, lowest first (HACKING.md, "Layers"). A module
# includes headers of its own layer and of the layers its USES_ names,
# nothing else: each layer is compiled with only those folders on the
# include path, and `make check-layers` also reads every include.
LAYERS       = base stream input kinds net top
USES_base    =
USES_stream  = base
USES_input   = base
USES_kinds   = base stream input
USES_net     = base
USES_top     = base stream kinds net
# The packages each layer compiles against, and no other.
PKGS_base    =
PKGS_stream  = msgpack
PKGS_input   = vips
PKGS_kinds   = msgpack
PKGS_net     = $(BLAS_PKG) hdf5-serial jansson nettle
PKGS_top     = msgpack gsl $(BLAS_PKG)

ALL_PKGS = $(sort $(foreach l,$(LAYERS),$(PKGS_$(l))))
WARN     = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
override CFLAGS += -std=c11 -D_GNU_SOURCE $(WARN)
LAYER_INCLUDES = $(foreach l,$(1) $(USES_$(1)),-Ilib/$(l))
# Tools, unit tests and fuzzers see every layer.
ALL_INCLUDES = $(foreach l,$(LAYERS),-Ilib/$(l)) -Itools
TOOL_CFLAGS  = $(ALL_INCLUDES) $(call pkg_cflags,$(ALL_PKGS))

LIB_SRC = $(foreach l,$(LAYERS),$(wildcard lib/$(l)/*.c))
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB     = $(BUILD)/libvggpipe.a
CLI_OBJ = $(BUILD)/tools/cli.o

# Every tools/NAME.c but the shared option code is a program.
TOOLS   = $(filter-out cli,$(basename $(notdir $(wildcard tools/*.c))))
# Programs written as scripts: copied to bin/ beside the compiled ones.
SCRIPTS = vggplot
PROGS   = $(TOOLS:%=$(OUT)/%) $(SCRIPTS:%=$(OUT)/%)

# Libraries each program links, beyond the stream code every one uses.
# Debian's gsl.pc names GSL's reference CBLAS; link GSL with OpenBLAS.
BLAS_LIBS    = $(call pkg_libs,$(BLAS_PKG))
LIBS_imgprep = $(call pkg_libs,$(PKGS_input)) -lpthread
LIBS_vggfeat = $(call pkg_libs,hdf5-serial jansson nettle) $(BLAS_LIBS) -lpthread
LIBS_topfit  = $(call pkg_libs,hdf5-serial jansson nettle) -lgsl $(BLAS_LIBS) -lpthread
LIBS_topeval = -lgsl $(BLAS_LIBS) -lpthread
LIBS_classify = -lgsl $(BLAS_LIBS) -lpthread
LIBS_topcam  = -lgsl $(BLAS_LIBS) -lpthread
LIBS_featnear = $(BLAS_LIBS) -lpthread

UNIT_SRC  = $(wildcard tests/unit/*.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
LIBS_unit = $(call pkg_libs,$(PKGS_stream) $(PKGS_input) hdf5-serial jansson nettle) \
	-lgsl $(BLAS_LIBS) -lpthread -lm

# A preloaded shim for the tests of -o where O_TMPFILE is refused. Built
# without the sanitizers: it is loaded into plain builds only.
SHIM = $(BUILD)/tests/no_tmpfile.so

all: $(PROGS) $(UNIT_BIN) $(SHIM)

define layer_rule
$$(BUILD)/lib/$(1)/%.o: lib/$(1)/%.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(call LAYER_INCLUDES,$(1)) $$(call pkg_cflags,$$(PKGS_$(1))) \
		-MMD -MP -c -o $$@ $$<
endef
$(foreach l,$(LAYERS),$(eval $(call layer_rule,$(l))))
# The packed GEMM's kernel fuses its multiply-adds where the processor
# can (AVX2 and AVX-512 builds): twice the products per instruction.
# Everywhere else ISO C's rounding of each operation holds.
$(BUILD)/lib/net/pgemm.o: override CFLAGS += -ffp-contract=fast

$(BUILD)/tools/%.o: tools/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TOOL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(OUT)/%: $(BUILD)/tools/%.o $(CLI_OBJ) $(LIB)
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(CLI_OBJ) $(LIB) $(LIBS_$*) \
		$(call pkg_libs,$(PKGS_stream)) -lm

$(SCRIPTS:%=$(OUT)/%): $(OUT)/%: tools/%
	@mkdir -p $(OUT)
	cp $< $@
	chmod 755 $@

$(SHIM): tests/shim/no_tmpfile.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -std=c11 -D_GNU_SOURCE $(WARN) -shared -fPIC -o $@ $< -ldl

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LIBS_unit)

-include $(LIB_OBJ:.o=.d) $(BUILD)/tools/*.d $(BUILD)/tests/unit/*.d

# Every quoted include of a library module names a header of its own
# layer or of one its USES_ lists, by its bare name.
check-layers:
	@fail=0; $(foreach l,$(LAYERS),for f in lib/$(l)/*.[ch]; do \
		for h in $$(sed -n 's/^#include "\(.*\)"/\1/p' $$f); do \
			hit=; for a in $(l) $(USES_$(l)); do [ -f lib/$$a/$$h ] && hit=1; done; \
			[ -n "$$hit" ] || { fail=1; echo "$$f: #include \"$$h\" is in" \
				"neither $(l) nor a layer it uses ($(or $(USES_$(l)),none))"; }; \
		done; done;) exit $$fail

# Tests. VGGPIPE_BIN and VGGPIPE_BUILD tell the test scripts where the
# programs under test live.
PROVE ?= prove
TESTS ?= tests/*.t
check: all check-layers
	VGGPIPE_BIN=$(CURDIR)/$(OUT) VGGPIPE_BUILD=$(CURDIR)/$(BUILD) \
		$(PROVE) --exec bash $(TESTS)

SAN_FLAGS = -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
check-asan:
	VGGPIPE_SANITIZE=1 $(MAKE) BUILD=build-asan OUT=build-asan/bin CFLAGS="$(SAN_FLAGS)" \
		LDFLAGS="-fsanitize=address,undefined" \
		TESTS="$(wildcard tests/*-unit.t) tests/stream.t tests/vggdump.t \
		tests/filter-manners.t tests/featnear.t tests/topfit-folds.t \
		tests/topeval-intervals.t" check

bench: all
	bench/run

# The mutation harness (tests/mutate.py): every mutant of tests/mutants
# applied to a scratch copy of the tree, which the tests it names must
# catch. MUTANTS names some of them.
mutate:
	/usr/bin/python3 tests/mutate.py $(MUTANTS)

# The whole pipeline on the generated example dataset, into build/demo.
demo: all
	VGGPIPE_BIN=$(CURDIR)/$(OUT) examples/demo.sh $(BUILD)/demo

# Fuzzing (clang's libFuzzer). Each fuzz/fuzz_NAME.c is a target; its
# seed corpus is fuzz/corpus/NAME. `make fuzz` explores for FUZZ_SECONDS per
# target and keeps new inputs in build-fuzz/found-NAME; `make fuzz-ci`
# replays the corpora and runs a fixed number of executions with a fixed
# seed, so that it is repeatable.
FUZZ_CC      ?= clang
FUZZ_FLAGS    = -g -O1 -std=c11 -D_GNU_SOURCE $(TOOL_CFLAGS) \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS  = $(basename $(notdir $(wildcard fuzz/fuzz_*.c)))
FUZZ_BINS     = $(FUZZ_TARGETS:%=build-fuzz/%)
FUZZ_SECONDS ?= 120
FUZZ_RUNS    ?= 20000
FUZZ_LIB_OBJ  = $(LIB_SRC:%.c=build-fuzz/%.o)

build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

build-fuzz/libvggpipe.a: $(FUZZ_LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

build-fuzz/fuzz_%: fuzz/fuzz_%.c build-fuzz/libvggpipe.a
	$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libvggpipe.a $(LIBS_unit)

fuzz: $(FUZZ_BINS)
	for t in $(FUZZ_TARGETS); do \
		name=$${t#fuzz_}; mkdir -p build-fuzz/found-$$name; \
		build-fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 \
			build-fuzz/found-$$name fuzz/corpus/$$name || exit 1; \
	done

fuzz-ci: $(FUZZ_BINS)
	for t in $(FUZZ_TARGETS); do \
		name=$${t#fuzz_}; \
		rm -rf build-fuzz/ci-$$name; mkdir -p build-fuzz/ci-$$name; \
		build-fuzz/$$t -runs=0 fuzz/corpus/$$name && \
		build-fuzz/$$t -runs=$(FUZZ_RUNS) -seed=1 -timeout=10 -max_len=4096 \
			build-fuzz/ci-$$name fuzz/corpus/$$name || exit 1; \
	done

deps:
	sh tools/install-deps.sh

test-deps:
	sh tools/install-deps.sh --tests

# The published Keras VGG16 weights, for machines with internet access.
WEIGHTS_URL ?= https://storage.googleapis.com/tensorflow/keras-applications/vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5
WEIGHTS_MD5 ?= 6d6bbae143d832006294945121d1f1fc
WEIGHTS_DIR ?= $(HOME)/.keras/models
weights:
	sh tools/fetch-weights.sh "$(WEIGHTS_URL)" "$(WEIGHTS_MD5)" "$(WEIGHTS_DIR)"

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(PROGS) $(DESTDIR)$(BINDIR)
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5

clean:
	rm -rf $(BUILD) build-asan build-fuzz $(OUT)

.PHONY: all check check-layers check-asan mutate bench demo fuzz fuzz-ci deps test-deps weights install clean
.DELETE_ON_ERROR:
# Object files are worth keeping between builds.
.SECONDARY:
