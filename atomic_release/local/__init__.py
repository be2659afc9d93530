"""The local runtime: the release state machine on moto, with task Lambdas run in-process and an
instance simulator playing the builder and QA guests."""

from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.simulator import Fault

__all__ = ["LocalRuntime", "Fault"]
