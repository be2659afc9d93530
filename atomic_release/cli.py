"""The ``atomic-release`` command."""

import argparse
import hashlib
import json
import sys
from datetime import datetime, timezone

from pydantic import ValidationError

from chalicelib.config import describe_validation_error, load_streams
from chalicelib.errors import ReleaseError
from chalicelib.models import ArchCommit, ReleaseInput
from chalicelib.regions import first_regions


def synthetic_release(stream_name: str, version: str | None, regions: int | None, config=None) -> ReleaseInput:
    """A release of a made-up commit per architecture, for a local run with no repository."""
    stream = (config or load_streams()).stream(stream_name)
    now = datetime.now(timezone.utc)
    version = version or now.strftime("local.%Y%m%d.%H%M%S")
    commits = {arch: ArchCommit(ref=ref, checksum=hashlib.sha256(f"{ref}@{version}".encode()).hexdigest(),
                                timestamp=now.replace(microsecond=0))
               for arch, ref in stream.refs.items()}
    return ReleaseInput(stream=stream_name, version=version, commits=commits, trigger="cli",
                        regions=first_regions(stream.regions.base, regions) if regions is not None else None)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atomic-release", description="ostree commits to public AMIs")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="run atomic-release on this machine, against moto")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    release = local_commands.add_parser("release", help="run one whole release locally")
    release.add_argument("--stream", required=True)
    release.add_argument("--regions", type=int, metavar="N",
                         help="the base region plus copies to the first N-1 other commercial regions")
    release.add_argument("--version", help="release version (default: local.<UTC time>)")
    release.add_argument("--fault", action="append", default=[], metavar="KIND[:ARCH]",
                         help="inject a guest fault: builder-fails, builder-silent, qa-fails")
    release.add_argument("--config", help="stream configuration file (default: the shipped streams.json)")
    release.add_argument("--output", choices=("text", "json"), default="text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from atomic_release.local_release import run_local_release

    try:
        return run_local_release(args)
    except ValidationError as error:
        print(f"atomic-release: {describe_validation_error(error, 'release')}", file=sys.stderr)
        return 2
    except (ReleaseError, ValueError) as error:
        print(f"atomic-release: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
