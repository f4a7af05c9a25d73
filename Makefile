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

# Everything but long tests (GoogleTest suites whose name starts with "Long"; run by `make test-all`).
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -E "^Long"

test-all: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	bash bench/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)
