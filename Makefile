# README command 1: `make run`  -> install deps if missing, build, run the embedded default demo.
# README command 2: `make test` -> install deps if missing, build, run the whole test suite.
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=

.PHONY: setup configure build run test sanitize clean

setup:
	@bash tools/setup/install_deps.sh

configure: setup
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@$(BUILD)/tools/flashmem demo --out $(BUILD)/demo-small

# The sanitizer stage runs first so that the main suite's summary is the last thing printed.
test: build
	@$(MAKE) --no-print-directory sanitize
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

# The sanitizer stage of CI (DESIGN.md §10): ASan+UBSan on the CPU targets and their tests (CUDA off;
# the Xvfb screenshot test and the numpy self-check already ran above), then TSan on the
# multi-threaded parts: traces, the scheduler and the engine (SimLink worker thread).
# -O1 -g1: line tables are all a sanitizer report needs, and the stage compiles ~40 % faster than
# at RelWithDebInfo's -O2 -g (CI has 2 cores).
SAN_FLAGS = -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" \
            -DFLASHMEM_CUDA=OFF -DFLASHMEM_BENCH=OFF
sanitize: setup
	@cmake -S . -B $(BUILD)-asan $(SAN_FLAGS) -DFM_SANITIZE=address,undefined >/dev/null
	@cmake --build $(BUILD)-asan -j $(JOBS)
	@cd $(BUILD)-asan && ctest --output-on-failure -j $(JOBS) -LE "slow|gpu|ui" -E golden_reference_selfcheck
	@cmake -S . -B $(BUILD)-tsan $(SAN_FLAGS) -DFLASHMEM_UI=OFF -DFM_SANITIZE=thread >/dev/null
	@cmake --build $(BUILD)-tsan -j $(JOBS) --target traces_recorder_test traces_socket_test sched_sim_link_test sched_scheduler_test runtime_engine_test runtime_live_control_test
	@cd $(BUILD)-tsan && ctest --output-on-failure -j $(JOBS) -R "^(traces_recorder_test|traces_socket_test|sched_sim_link_test|sched_scheduler_test|runtime_engine_test|runtime_live_control_test)$$"

clean:
	@rm -rf $(BUILD)
