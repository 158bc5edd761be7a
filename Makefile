# README command 1: `make run`  -> install deps if missing, build, run the embedded default demo.
# README command 2: `make test` -> install deps if missing, build, run the whole test suite.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: setup configure build run test clean

setup:
	@bash tools/setup/install_deps.sh

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@$(BUILD)/tools/flashmem demo --out $(BUILD)/demo-small

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

clean:
	@rm -rf $(BUILD)
