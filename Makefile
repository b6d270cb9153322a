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
	$(BIN)/python -m pip install --quiet -e '.[test]'
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
	$(BIN)/ruff check src tests examples
	$(BIN)/ruff format --check src || true
	$(BIN)/mypy

# Regenerate the files derived from the model and the mapping table.
schema: install
	$(BIN)/python -m photometa._generate

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

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache $(SAMPLE)/images
