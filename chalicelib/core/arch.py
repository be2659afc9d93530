"""Architecture names: EC2 says ``arm64`` where ostree and CoreOS say ``aarch64``.

This module is the one place where the two vocabularies meet.
"""

from typing import Literal

Arch = Literal["x86_64", "arm64"]
ARCHES: tuple[Arch, ...] = ("x86_64", "arm64")

_OSTREE_BY_EC2: dict[str, str] = {"x86_64": "x86_64", "arm64": "aarch64"}
_EC2_BY_OSTREE: dict[str, str] = {v: k for k, v in _OSTREE_BY_EC2.items()}


def ostree_arch(arch: Arch) -> str:
    """The name ostree refs and CoreOS stream metadata use for an EC2 architecture."""
    return _OSTREE_BY_EC2[arch]


def ec2_arch(name: str) -> Arch:
    """The EC2 architecture for a name in either vocabulary; ValueError for anything else."""
    if name in _OSTREE_BY_EC2:
        return name  # type: ignore[return-value]
    if name in _EC2_BY_OSTREE:
        return _EC2_BY_OSTREE[name]  # type: ignore[return-value]
    raise ValueError(f"unsupported architecture {name!r}: EC2 images are built for x86_64 and arm64 (aarch64)")
