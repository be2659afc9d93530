# Everything a command needs, the Makefile installs: a virtualenv with the project and its tools.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# A change of the project's dependencies or of their pinned versions makes a new stamp: a reinstall.
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml requirements.txt requirements.lock | sha256sum | cut -c1-12)
# pip-tools, which writes requirements.lock and requirements.txt (`make lock`), in a virtualenv of its own.
PIP_TOOLS_VERSION := 7.7.0
PIP_COMPILE := .venv-lock/bin/pip-compile
PIP_COMPILE_OPTIONS := --quiet --strip-extras --no-emit-index-url --no-emit-find-links
# checkov pins its own boto3, older than the project's: it lives in a virtualenv of its own.
CHECKOV_VERSION := 3.3.30
CHECKOV := .venv-checkov/bin/checkov
CHECKOV_STAMP := .venv-checkov/.installed-$(CHECKOV_VERSION)
PACKAGE_DIR ?= build/package
STAGE ?= prod

TEST_TIERS := unit integration e2e infra guest guest_vm browser
# A worker per core (pytest-xdist), each test module kept on one worker for its module fixtures.
# The small tiers run in one process: starting the workers would cost more than it saves.
PARALLEL := -n auto --dist loadscope

.PHONY: demo test test-vm $(TEST_TIERS:%=test-%) bench bench-compress clean tools package flow schemas lock lint

# Debian's packages the tests use, as WHAT:PACKAGE, WHAT a command or a file: the ostree CLI (the
# demo serves a repository it builds, tests build theirs with it), gpg (both sign their commits
# with a key of their own), shellcheck (the guest scripts
# must be clean), chromium (the maintainers' page is tested in it, driven by Playwright), and what
# real guests need (tests/guest_vm): mmdebstrap composes the test commit, the builder's tools
# write it to a loop device, QEMU with OVMF or SeaBIOS boots it. Installed where this user may use
# apt-get; elsewhere the tests that need them are skipped (never under CI).
DEBIAN_TOOLS := ostree:ostree gpg:gnupg gpg-agent:gnupg shellcheck:shellcheck chromium:chromium mmdebstrap:mmdebstrap \
  sgdisk:gdisk mkfs.fat:dosfstools mkfs.xfs:xfsprogs mkfs.ext4:e2fsprogs mcopy:mtools socat:socat ip:iproute2 \
  grub-install:grub2-common /usr/lib/grub/x86_64-efi/moddep.lst:grub-efi-amd64-bin \
  /usr/lib/grub/i386-pc/moddep.lst:grub-pc-bin qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
  /usr/share/OVMF/OVMF_CODE_4M.fd:ovmf
tools:
	@missing=$$(for pair in $(DEBIAN_TOOLS); do what=$${pair%%:*}; \
	  { [ -e "$$what" ] || command -v "$$what" >/dev/null 2>&1; } || echo $${pair#*:}; done); \
	[ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  $$missing >/dev/null; } \
	  || echo "note: cannot install $$missing here; the tests that need them will be skipped"

$(STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[local,test,lint]'
	@rm -f $(VENV)/.installed-* && touch $@

$(CHECKOV_STAMP):
	@test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	@rm -f .venv-checkov/.installed-* && touch $@

# requirements.lock: every package of the project, its local runtime and its tests at one version,
# the one CI tests and a fresh clone installs; requirements.txt: the Lambda bundle's share of it.
# Run after changing pyproject.toml's or requirements.in's dependencies, and commit both files.
lock:
	@test -x $(PIP_COMPILE) || { $(PYTHON) -m venv .venv-lock && .venv-lock/bin/python -m pip install --quiet pip-tools==$(PIP_TOOLS_VERSION); }
	$(PIP_COMPILE) $(PIP_COMPILE_OPTIONS) --extra local --extra test --extra lint --output-file requirements.lock pyproject.toml
	$(PIP_COMPILE) $(PIP_COMPILE_OPTIONS) --output-file requirements.txt requirements.in

# The deployable stack: $(PACKAGE_DIR)/sam.yaml, deployment.zip and state_machines/ (README: Deploy).
package: $(STAMP)
	$(BIN)/python -m atomic_release.cli.package --stage $(STAGE) $(PACKAGE_DIR)

# The release state machine's ASL and its diagram in docs/, both written from state_machines/release.py
# (standard library only: no virtualenv needed).
flow:
	$(PYTHON) state_machines/release.py
	$(PYTHON) state_machines/diagram.py

# The JSON Schemas of the stream document, the release index and a release's document, written
# from their pydantic models (chalicelib/models/schemas.py) to docs/schemas/.
schemas: $(STAMP)
	$(BIN)/python -m chalicelib.models.schemas docs/schemas

demo: $(STAMP) tools
	$(BIN)/atomic-release local release --stream developer --regions 3 --publish-dir build/public

test: $(STAMP) $(CHECKOV_STAMP) tools
	$(BIN)/python -m pytest $(PARALLEL)

# One tier of the suite, by its folder in tests/ (make test-unit, test-integration, ...), with
# what that tier needs: the unit tier no Debian tool and no moto, the infra tier checkov too.
test-unit: $(STAMP)
test-integration test-e2e test-guest test-guest_vm test-browser: $(STAMP) tools
# The real guests (pytest marker guest_vm): root, loop devices, QEMU; minutes, not seconds.
test-vm: test-guest_vm
test-infra: $(STAMP) $(CHECKOV_STAMP) tools
test-integration test-e2e test-infra: PYTEST_OPTIONS := $(PARALLEL)
$(TEST_TIERS:%=test-%):
	$(BIN)/python -m pytest $(PYTEST_OPTIONS) tests/$(@:test-%=%)

# ruff's rules and mypy's settings are in pyproject.toml; both must be clean for a change to land.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: $(STAMP) tools
	$(BIN)/python -m bench

# Not part of bench: it fills a 10 GiB disk and compresses it twice (minutes, root).
bench-compress: $(STAMP) tools
	$(BIN)/python -m bench compress

clean:
	rm -rf $(VENV) .venv-checkov .venv-lock .pytest_cache build *.egg-info
