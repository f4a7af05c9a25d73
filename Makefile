# plexus top-level targets. `make demo` and `make test` work on a fresh Debian 12 machine as root.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: deps configure build demo test test-all bench clean

deps:
	bash scripts/bootstrap.sh

configure: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: configure
	ninja -C $(BUILD) -j $(JOBS)

# Quickstart: DFedSAM on Fashion-MNIST, 20 clients, Dirichlet alpha 0.3, CNN, time-varying random topology.
demo: build
	./$(BUILD)/plexus fl run --config configs/quickstart.toml --set run.name=quickstart-$$(date +%Y%m%d-%H%M%S)

# The tests run on one fixed set of CPU kernels, so bit-for-bit results (tests/fl/golden) do not depend on the
# machine's vector units: OpenBLAS's Haswell kernels and LibTorch's AVX2 kernels exist on every x86-64 CPU
# since 2013, and AVX-512 kernels sum in a different order.
PIN_KERNELS = OPENBLAS_CORETYPE=Haswell ATEN_CPU_CAPABILITY=avx2

# Everything but long tests (GoogleTest suites whose name starts with "Long"; run by `make test-all`).
test: build
	cd $(BUILD) && $(PIN_KERNELS) ctest --output-on-failure -j $(JOBS) -E "^Long"

test-all: build
	cd $(BUILD) && $(PIN_KERNELS) ctest --output-on-failure -j $(JOBS)

bench: build
	bash bench/run_all.sh $(BUILD)

# libFuzzer targets (own build dir build-fuzz/; g++ by default, CXX=clang++ for the ASan/UBSan build where clang
# compiles LibTorch), FUZZ_SECONDS each; docs/fuzzing.md. The committed corpora also run in `make test` (CTest
# Fuzz.*) through the normal build's fuzz_replay.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) bash scripts/fuzz.sh

clean:
	rm -rf $(BUILD)
