"""Running the checkers and the bundle the way CI and Lambda do."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# checkov pins its own boto3, so `make` gives it a virtualenv of its own.
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def tool_or_skip(path: Path, why: str) -> Path:
    """A checker `make` installs: skipped where it is missing, except under CI, where that fails."""
    if path.exists():
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{path.name} is missing: CI must install it ({why})")
    pytest.skip(f"{path.name} is missing; `make test` installs it ({why})")


def run_tool(*command, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=600)


def python_without_site_packages(code: str, path: Path) -> subprocess.CompletedProcess:
    """Python with only ``path`` and the standard library to import from, as in Lambda's runtime."""
    environment = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(path), "PYTHONNOUSERSITE": "1",
                   "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true"}
    return subprocess.run([sys.executable, "-S", "-c", code], cwd=path, env=environment, capture_output=True,
                          text=True, timeout=120)
