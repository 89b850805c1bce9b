# The two quick-start commands (see README.md):
#   make demo   set up, build, compile the example DMA layer and run it
#   make test   set up, build, run every test (lit + ctest)
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: setup configure build demo test bench-cpu docs clean

setup:
	./scripts/setup.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja \
	  -DCMAKE_BUILD_TYPE=Release \
	  -DCMAKE_C_COMPILER=clang-22 -DCMAKE_CXX_COMPILER=clang++-22 \
	  -DLLVM_USE_LINKER=lld \
	  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir \
	  $(CMAKE_FLAGS)

configure: setup $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

demo: build
	$(BUILD_DIR)/bin/dma-demo examples/dma-layer/dma_layer.mlir
	/usr/bin/python3 examples/dma-layer/gpu_demo.py

test: build
	cmake --build $(BUILD_DIR) --target check-dma -j $(JOBS)

# The CPU benchmark of docs/cpu-benchmark.md (a few minutes).
bench-cpu: build
	$(BUILD_DIR)/bin/dma-cpu-bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true

docs: configure
	cmake --build $(BUILD_DIR) --target dma-docs

clean:
	rm -rf $(BUILD_DIR)
