# photometa: `make demo` runs the main job on the bundled sample archive; `make test` runs the tests.
# Both set everything up on a fresh machine (a virtualenv in .venv; ExifTool and exiv2 from Debian's
# packages when missing, used by the interoperability tests only).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SAMPLE := examples/sample-archive

.PHONY: install tools test demo lint schema docs bench fuzz clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz,docs]'
	touch $(STAMP)

install: $(STAMP)

# ExifTool and exiv2 are independent readers for the tests; photometa itself never runs them.
tools:
	@if ! command -v exiftool >/dev/null 2>&1 || ! command -v exiv2 >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libimage-exiftool-perl exiv2; \
	fi

test: install tools
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/mypy

# Regenerate the files derived from the model and the mapping table.
schema: install
	$(BIN)/python -m photometa._generate

# The documentation site (MkDocs + Material + mkdocstrings), built offline into build/site.
# Regenerate docs/exiftool-view.md with `$(BIN)/python docs/_scripts/exiftool_view.py`.
DOCS_STAMP := $(VENV)/.docs-installed-stamp

$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir build/site

demo: install
	$(BIN)/python $(SAMPLE)/build.py
	@echo "== tag the sample archive from its manifest"
	$(BIN)/photometa tag --from $(SAMPLE)/manifest.csv
	@echo "== read it back"
	$(BIN)/photometa read $(SAMPLE)/images --format table
	@echo "== validate it against the archive's policy (one record breaks a rule on purpose)"
	$(BIN)/photometa validate $(SAMPLE)/images --policy $(SAMPLE)/photometa.toml; \
	  status=$$?; [ $$status -le 1 ] || exit $$status; \
	  echo "== demo finished: validate exited $$status (1 = findings, as intended)"

# Coverage-guided fuzzing (atheris) of every parser, FUZZ_SECONDS each, seeded from the corpus;
# then every input kept is timed and traced (fails at >= 1 s or > 80 MiB). Output: build/fuzz.
FUZZ_SECONDS ?= 300
FUZZ_STAMP := $(VENV)/.fuzz-installed-stamp

$(FUZZ_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,fuzz]'
	touch $(FUZZ_STAMP)

fuzz: $(FUZZ_STAMP)
	$(BIN)/python tests/fuzz/run.py all --seconds $(FUZZ_SECONDS) --out build/fuzz

# The benchmark beside pyexiv2, ExifTool, piexif, exifread and Pillow: generates its corpus in
# build/bench, writes docs/benchmark.md and docs/benchmark.png (see benchmarks/README.md). Not a test.
# `make bench BENCH_ARGS=--quick` for a short run (a few minutes).
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed-stamp

$(BENCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) tools
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache $(SAMPLE)/images
