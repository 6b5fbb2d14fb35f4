# A thin wrapper: the real build is meson (see README.md). Every target is idempotent.

BUILD        ?= build
BENCH_ARGS   ?=
FUZZ_SECONDS ?= 60
MESON        ?= meson

.PHONY: all deps build test demo bench fuzz format install clean

all: build

deps:
	scripts/deps

build:
	@if [ ! -f $(BUILD)/build.ninja ]; then $(MESON) setup $(BUILD); fi
	$(MESON) compile -C $(BUILD)

test: deps
	scripts/run-tests

ANARCHY_ENV = ANARCHY_KMOD=$(BUILD)/anarchy/anarchy.ko \
	ANARCHY_SELFTEST=$(BUILD)/anarchy/tests/anarchy-selftest \
	ANARCHY_LIB=$(BUILD)/anarchy/libanarchy.so.0.1.0 GHOSTCTL=$(BUILD)/ghostctl/ghostctl \
	TESTBED_DIR=$(BUILD)/anarchy/testbed TESTBED_MKPAYLOAD=testbed/mkpayload

demo: deps build
	$(BUILD)/psyne/tools/psyne-demo
	$(ANARCHY_ENV) python3 anarchy/tools/anarchy-demo.py

bench: deps
	@if [ ! -f $(BUILD)/build.ninja ]; then $(MESON) setup $(BUILD) -Dbench=enabled; \
	else $(MESON) configure $(BUILD) -Dbench=enabled; fi
	$(MESON) compile -C $(BUILD)
	$(BUILD)/psyne/bench/psyne-bench $(BENCH_ARGS)
	python3 ghostctl/bench/bench-vm-start.py $(BUILD)/ghostctl/ghostctl \
		$(BUILD)/ghostctl/bench/exec-stamp
	$(ANARCHY_ENV) python3 anarchy/bench/bench-link.py

fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz

format:
	scripts/check-format --fix

install: build
	$(MESON) install -C $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-fuzz
