# Everything a command needs, the Makefile installs: a virtualenv with the project and its tools.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.txt | sha256sum | cut -c1-12)

.PHONY: demo test bench clean tools

# Debian's ostree CLI: the demo serves a repository it builds, tests build theirs with it.
# Installed where this user may use apt-get; elsewhere its tests are skipped (never under CI).
tools:
	@command -v ostree >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ostree >/dev/null) ; } \
	  || echo "note: the ostree CLI is not installed and cannot be installed here"

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: $(STAMP) tools
	$(BIN)/atomic-release local release --stream developer --regions 3

test: $(STAMP) tools
	$(BIN)/python -m pytest

bench: $(STAMP) tools
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
