# nkscape — the two commands a new user needs:
#   make run    install what is missing, build (Release), validate and summarise the default model,
#               run the example killing assay (out/example-et-curve/), the default TNBC tumour
#               for a year (out/tnbc-untreated/) and the default virtual trial (out/trial/)
#   make test   install what is missing, build (Release), run the whole test suite
# Both are idempotent. Other targets: asan (sanitiser build + tests), fuzz (the model-loader and
# the scenario-reader, trial-reader and mechanisms-file fuzzers, each FUZZ_SECONDS or its own *_FUZZ_SECONDS), bench.

JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
NKSCAPE  := build/release/apps/nkscape/nkscape
FUZZ_SECONDS ?= 60
SCENARIO_FUZZ_SECONDS ?= $(FUZZ_SECONDS)
TRIAL_FUZZ_SECONDS ?= $(SCENARIO_FUZZ_SECONDS)
MECHANISMS_FUZZ_SECONDS ?= $(TRIAL_FUZZ_SECONDS)

.PHONY: run test deps build asan fuzz bench docs clean validation valgrind

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

run: build
	@$(NKSCAPE) validate models/default.toml
	@$(NKSCAPE) describe --model models/default.toml
	@echo
	@$(NKSCAPE) assay scenarios/assays/example-et-curve.toml --out out/example-et-curve
	@$(NKSCAPE) simulate scenarios/simulate/tnbc-untreated.toml --out out/tnbc-untreated
	@$(NKSCAPE) trial scenarios/trials/tnbc-avelumab-weekly-vs-untreated.toml --out out/trial

test: build
	@ctest --preset release -j $(JOBS)

asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)
	@ctest --preset asan -j $(JOBS)

fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS) --target fuzz_model_loader fuzz_assay_scenario fuzz_simulate_scenario fuzz_trial fuzz_mechanisms
	@bash scripts/run-fuzzer.sh build/fuzz/fuzz/fuzz_model_loader $(FUZZ_SECONDS)
	@bash scripts/run-fuzzer.sh build/fuzz/fuzz/fuzz_assay_scenario $(SCENARIO_FUZZ_SECONDS) scenarios/assays:tests/data/assay:tests/data/hostile fuzz/scenario.dict
	@bash scripts/run-fuzzer.sh build/fuzz/fuzz/fuzz_simulate_scenario $(SCENARIO_FUZZ_SECONDS) scenarios/simulate:tests/data/simulate:tests/data/hostile fuzz/scenario.dict
	@bash scripts/run-fuzzer.sh build/fuzz/fuzz/fuzz_trial $(TRIAL_FUZZ_SECONDS) scenarios/trials:scenarios/trials/populations:tests/data/trial:tests/data/hostile fuzz/scenario.dict
	@bash scripts/run-fuzzer.sh build/fuzz/fuzz/fuzz_mechanisms $(MECHANISMS_FUZZ_SECONDS) calibration:tests/data/hostile fuzz/scenario.dict

bench: build
	@build/release/bench/nkscape_bench

valgrind: build
	@bash scripts/valgrind-tests.sh

validation: build
	@ctest --preset release -L validation

docs: build
	@$(NKSCAPE) describe --model models/default.toml --markdown > docs/model-reference.md.tmp
	@mv docs/model-reference.md.tmp docs/model-reference.md

clean:
	rm -rf build out
