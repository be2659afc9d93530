import pytest

from atomic_release.cli import synthetic_release
from atomic_release.local import LocalRuntime


@pytest.fixture
def runtime():
    """moto with the release's tables, bucket, topic, task Lambdas and state machine."""
    with LocalRuntime() as local:
        yield local


@pytest.fixture
def developer_release():
    """A developer release of one synthetic commit per architecture across three regions."""
    return synthetic_release("developer", "43.20261125.dev.1", 3)
