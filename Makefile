# snowdays: set-up, the main job, tests and benchmarks. Every target installs what it needs first.
UV ?= python3 -m uv
SAMPLE ?= sample/T31TCH-2017-2018
OUT ?= out/T31TCH-2017-2018

.PHONY: setup bytecode web demo annual test test-fast lint bench

setup:
	@infra/system-packages.sh
	@infra/tools.sh
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen --all-extras --compile-bytecode
	@$(MAKE) --no-print-directory -s bytecode web

# Every process of the pipeline (a flow run, a Dask worker, a command) imports a few hundred modules:
# compiled once here, not by each process again (2.9 s of CPU instead of 5.8 s for an update run's,
# on a machine that sets PYTHONDONTWRITEBYTECODE); a module changed since is compiled by each process
bytecode:
	$(UV) run python -m compileall -q -j 0 snowdays stac tasks flows infra cli tests bench

web: web/dist/index.html  ## the map viewer: OpenLayers and proj4 from npm, bundled into web/dist/

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json web/build.mjs web/index.html $(wildcard web/src/*)
	cd web && npm run --silent build

demo: setup  ## the main job on embedded defaults: the local pipeline, fed a season over two minutes
	$(UV) run snowdays demo

annual: setup  ## the batch alone: a sample season and its annual maps
	$(UV) run snowdays sample $(SAMPLE) --tile T31TCH --season 2017-2018
	$(UV) run snowdays annual $(SAMPLE) --tile T31TCH --start 2017-09-01 --stop 2018-08-31 --out $(OUT)

lint: setup
	$(UV) run ruff check .
	$(UV) run mypy
	$(UV) run lint-imports

# The suite in TEST_WORKERS processes, a test file each at a time (its module fixtures shared): most
# tests wait on servers and child processes. On this 2-core machine two workers took 26-27 min; three
# took 24 and 31 on the same code (no better, and more load on timed waits); the files that take
# minutes started first took 31 (the outage test ran beside all the others)
TEST_WORKERS ?= 2

test: lint  ## everything, as CI runs it
	$(UV) run pytest -n $(TEST_WORKERS) --dist loadfile --durations=25

test-fast:  ## the library alone, in about a minute: no server, browser or slow test (tests/conftest.py)
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.5"
	$(UV) sync --frozen --all-extras --compile-bytecode  # the same environment as every other target
	$(UV) run pytest -m "not server and not browser and not slow"

bench: setup  ## full-size tile; minutes, not a test
	$(UV) run python bench/annual.py
	$(UV) run python bench/state.py
	$(UV) run python bench/checkpoint.py
	$(UV) run python bench/pipeline.py
	$(UV) run python bench/l2a.py
	$(UV) run python bench/mosaic.py
	$(UV) run python bench/region.py  # runs bench/publish.py too
	$(UV) run python bench/region.py
