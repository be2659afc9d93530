"""``atomic-release --version``: the version pip recorded from pyproject.toml."""

import re
import subprocess
import sys
from importlib import metadata

import pytest

from atomic_release.cli import main as cli


def test_version_prints_the_installed_packages_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])

    assert exited.value.code == 0
    assert capsys.readouterr().out == f"atomic-release {metadata.version('atomic-release')}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", metadata.version("atomic-release"))


def test_the_command_itself_answers_version_before_any_subcommand():
    done = subprocess.run([sys.executable, "-m", "atomic_release.cli", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)

    assert (done.returncode, done.stdout.strip()) == (0, f"atomic-release {metadata.version('atomic-release')}")


def test_a_source_tree_without_package_metadata_says_so(monkeypatch):
    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)

    assert cli.tool_version().startswith("unknown: atomic-release is not installed")
