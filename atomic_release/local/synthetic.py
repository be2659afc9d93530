"""A release of made-up commits, for benchmarks and tests of the pipeline alone (no repository)."""

import hashlib
from datetime import UTC, datetime

from chalicelib.core.config import StreamsConfig, load_streams
from chalicelib.core.regions import first_regions
from chalicelib.models.release import ArchCommit, ReleaseInput


def synthetic_release(stream_name: str, version: str, regions: int | None = None,
                      config: StreamsConfig | None = None) -> ReleaseInput:
    stream = (config or load_streams()).stream(stream_name)
    now = datetime.now(UTC).replace(microsecond=0)
    commits = {arch: ArchCommit(ref=ref, checksum=hashlib.sha256(f"{ref}@{version}".encode()).hexdigest(),
                                timestamp=now)
               for arch, ref in stream.refs.items()}
    return ReleaseInput(stream=stream_name, version=version, commits=commits, trigger="cli",
                        regions=first_regions(stream.regions.base, regions) if regions is not None else None)
