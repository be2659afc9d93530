"""The contract between the pipeline and the guests it launches: the user-data that carries a
guest's parameters (task token, commit, target device, deadline)."""

import hashlib
import json
import re
import shlex
from typing import Literal

Role = Literal["builder", "qa"]
_PARAMS_LINE = re.compile(r"^ATOMIC_RELEASE_PARAMS=(.+)$", re.MULTILINE)
TARGET_DEVICE = "/dev/sdf"


def render_user_data(role: Role, params: dict, deadline_minutes: int) -> str:
    """A shell script: the parameters as JSON, and a deadline after which the guest powers
    itself off (and, with InstanceInitiatedShutdownBehavior=terminate, is gone) even if
    nothing in the pipeline is left to clean it up."""
    document = json.dumps({"role": role, **params}, sort_keys=True)
    return "\n".join([
        "#!/bin/bash",
        f"# atomic-release {role} guest",
        f"ATOMIC_RELEASE_PARAMS={shlex.quote(document)}",
        "export ATOMIC_RELEASE_PARAMS",
        f"shutdown -P +{deadline_minutes} 'atomic-release {role} deadline reached'",
        "",
    ])


def read_user_data(user_data: str) -> dict | None:
    """The parameters of a guest's user-data, or None if it is not an atomic-release guest."""
    match = _PARAMS_LINE.search(user_data)
    if not match:
        return None
    (document,) = shlex.split(match.group(1))
    return json.loads(document)


def token_fingerprint(task_token: str) -> str:
    """Short, non-secret identity of a task token, kept as a tag on the guest instance."""
    return hashlib.sha256(task_token.encode()).hexdigest()[:16]
