"""The ``atomic-release`` command."""

import argparse
import sys

from pydantic import ValidationError

from atomic_release.local.ostree_repo import OstreeMissing
from chalicelib.config import describe_validation_error
from chalicelib.errors import ReleaseError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atomic-release", description="ostree commits to public AMIs")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="run atomic-release on this machine, against moto")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    release = local_commands.add_parser("release", help="run one whole release locally")
    release.add_argument("--stream", required=True)
    release.add_argument("--regions", type=int, metavar="N",
                         help="the base region plus copies to the first N-1 other commercial regions")
    release.add_argument("--repo", metavar="URL",
                         help="an ostree repository to release from (default: one the ostree CLI builds now, "
                              "served on 127.0.0.1)")
    release.add_argument("--version", help="version of the commits in the built repository (default: local.<UTC time>)")
    release.add_argument("--fault", action="append", default=[], metavar="KIND[:ARCH|:REGION]",
                         help="inject a guest fault (builder-fails, builder-silent, qa-fails, optionally :ARCH), a "
                              "region fault (copy-fails, public-blocked, quota-full, made-private, with :REGION) or a "
                              "Marketplace fault (marketplace-rejects, optionally :ARCH)")
    release.add_argument("--config", help="stream configuration file (default: the shipped streams.json)")
    release.add_argument("--output", choices=("text", "json"), default="text")

    repo = commands.add_parser("repo", help="look at an ostree repository as the poller does")
    repo_commands = repo.add_subparsers(dest="repo_command", required=True)
    show = repo_commands.add_parser("show", help="every ref with checksum, version and timestamp")
    show.add_argument("url")
    show.add_argument("--ref", help="one ref, with its commit's parent, subject and metadata")
    show.add_argument("--output", choices=("text", "json"), default="text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "repo":
            from atomic_release.repo_show import show

            return show(args.url, args.ref, args.output)
        from atomic_release.local_release import run_local_release

        return run_local_release(args)
    except ValidationError as error:
        print(f"atomic-release: {describe_validation_error(error, 'release')}", file=sys.stderr)
        return 2
    except (ReleaseError, ValueError, OstreeMissing) as error:
        print(f"atomic-release: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
