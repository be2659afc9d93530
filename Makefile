# Everything a command needs, the Makefile installs: a virtualenv with the project and its tools.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.txt | sha256sum | cut -c1-12)

.PHONY: demo test bench clean tools

# Debian's ostree CLI (the demo serves a repository it builds, tests build theirs with it),
# shellcheck (the guest scripts must be clean) and chromium (the maintainers' page is tested in
# it, driven by Playwright). Installed where this user may use apt-get;
# elsewhere the tests that need them are skipped (never under CI).
DEBIAN_TOOLS := ostree shellcheck chromium
tools:
	@missing=$$(for tool in $(DEBIAN_TOOLS); do command -v $$tool >/dev/null 2>&1 || echo $$tool; done); \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; } \
	  || echo "note: cannot install $$missing here; the tests that need them will be skipped"

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
