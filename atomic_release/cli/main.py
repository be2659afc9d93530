"""The ``atomic-release`` command."""

import argparse
import re
import sys
from importlib import metadata

from pydantic import ValidationError

from atomic_release.cli.api_client import ENVIRONMENT_VARIABLE, ApiError
from atomic_release.local.serving import LOCAL_PUBLIC_URL
from atomic_release.local.tools import ToolMissing
from chalicelib.core.arch import ec2_arch
from chalicelib.core.config import describe_validation_error
from chalicelib.core.errors import ReleaseError
from chalicelib.core.settings import PUBLIC_BASE_URL_PATTERN
from chalicelib.models.artifacts import FORMATS


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _size(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of bytes more than 0, not {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"not a port: {text}")
    return value


def _base_url(text: str) -> str:
    url = text if text.endswith("/") else text + "/"
    if not re.fullmatch(PUBLIC_BASE_URL_PATTERN, url):
        raise argparse.ArgumentTypeError(f"not an https URL (or http on 127.0.0.1 or localhost): {text}")
    return url


def _api_options() -> argparse.ArgumentParser:
    """Every command that asks the API takes these, after its name."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--api", metavar="URL",
                         help=f"the API: a deployed stack's API Gateway URL, or what `local serve` prints "
                              f"(default: ${ENVIRONMENT_VARIABLE})")
    options.add_argument("--profile", metavar="NAME", help="AWS profile whose credentials sign requests to a deployed "
                                                           "API (default: the AWS CLI's default chain)")
    options.add_argument("--region", metavar="REGION",
                         help="region to sign for (default: from the execute-api host name, else the profile's)")
    options.add_argument("--output", choices=("text", "json"), default="text")
    return options


def _local_options() -> argparse.ArgumentParser:
    """What ``local release`` and ``local serve`` build and run."""
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--regions", type=int, metavar="N",
                         help="the base region plus copies to the first N-1 other commercial regions")
    options.add_argument("--repo", metavar="URL",
                         help="an ostree repository to release from (default: one the ostree CLI builds now, "
                              "served on 127.0.0.1)")
    options.add_argument("--version", help="version of the commits in the built repository (default: local.<UTC time>)")
    options.add_argument("--fault", action="append", default=[], metavar="KIND[:ARCH|:REGION]",
                         help="inject a guest fault (builder-fails, builder-silent, qa-fails, optionally :ARCH), a "
                              "region fault (copy-fails, public-blocked, quota-full, made-private, not-opted-in, with :REGION) or a "
                              "Marketplace fault (marketplace-rejects, optionally :ARCH)")
    options.add_argument("--config", help="stream configuration file (default: the shipped streams.json)")
    options.add_argument("--guests", choices=("simulated", "qemu"), default="simulated",
                         help="who plays the builder and QA instances: the simulator (default, fast), or real guests: "
                              "the builder script on a loop device and QA booted in QEMU, from a bootable commit "
                              "composed here from Debian's packages (this machine's architecture only; needs root)")
    return options


def _releases_parsers(commands) -> None:
    api = _api_options()
    releases = commands.add_parser("releases", help="list, show, follow, retry and abort releases through the API")
    verbs = releases.add_subparsers(dest="releases_command", required=True)
    listing = verbs.add_parser("list", parents=[api], help="releases, newest first")
    listing.add_argument("--stream")
    listing.add_argument("--status", help="RUNNING, PUBLISHED, SUCCEEDED, PARTIAL, MARKETPLACE_FAILED, "
                                          "PUBLISHED_WITH_ERRORS, FAILED, ABORTED, TIMED_OUT or RETIRED")
    listing.add_argument("--limit", type=int, metavar="N", help="how many (a page; the API's default 20, at most 100)")
    listing.add_argument("--all", action="store_true", help="every page")
    for name, text in (("show", "one release: stages, architectures, regions, Marketplace, runs"),
                       ("watch", "follow a release until its run ends, then show it"),
                       ("retry", "a fill-in run of a partial release, or a rerun of one that ended unreleased"),
                       ("abort", "stop a running release and remove what it made")):
        verb = verbs.add_parser(name, parents=[api], help=text)
        verb.add_argument("release_id", metavar="ID")
        if name in ("watch", "retry"):
            _watch_options(verb, follow=name == "retry")
        if name == "abort":
            _abort_options(verb)
    page = verbs.add_parser("page", parents=[api], help="serve the releases page on 127.0.0.1, its reads of the API "
                                                       "signed with your credentials")
    page.add_argument("--port", type=_port, default=8001, help="port on 127.0.0.1 (default: 8001; 0: any free one)")
    plan = commands.add_parser("plan", parents=[api], help="a stream's next release before it runs: its commits, "
                                                           "regions, preflight now, predicted time and cost")
    plan.add_argument("--stream", required=True)
    plan.add_argument("--regions", type=int, metavar="N",
                      help="plan for the base region plus copies to the first N-1 other regions, instead of the stream's")
    release = commands.add_parser("release", parents=[api], help="release a stream now, through the API")
    release.add_argument("stream")
    release.add_argument("--version", help="each ref's commit of this version (default: the refs' newest commits)")
    _watch_options(release, follow=True)


# How long ``releases abort`` waits for the cleanup after the run to be recorded.
ABORT_CLEANUP_WAIT_S = 15 * 60.0


def _abort_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reason", help="why, kept in the record (1-500 characters; default: aborted by a maintainer)")
    parser.add_argument("--cleanup-wait", type=_positive, default=ABORT_CLEANUP_WAIT_S, metavar="SECONDS",
                        help="how long to wait for the cleanup after the run to be recorded (default: 900); "
                             "then exit 3")


def _watch_options(parser: argparse.ArgumentParser, follow: bool) -> None:
    if follow:
        parser.add_argument("--watch", action="store_true", help="follow the run it starts until it ends")
    parser.add_argument("--interval", type=_positive, default=2.0, metavar="SECONDS",
                        help="how often to ask the API (default: 2)")


def _arch(text: str) -> str:
    try:
        ec2_arch(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _images_parsers(commands) -> None:
    images = commands.add_parser("images", help="a stream's published images, read from its stream document over "
                                                "HTTP as consumers read it")
    verbs = images.add_subparsers(dest="images_command", required=True)
    stream_url = argparse.ArgumentParser(add_help=False)
    stream_url.add_argument("--stream-url", required=True, metavar="URL",
                            help="the published stream document, e.g. https://HOST/streams/stable.json")
    listing = verbs.add_parser("list", parents=[stream_url],
                               help="per architecture, the AMI of every region and the downloadable files")
    listing.add_argument("--arch", type=_arch, help="x86_64 or aarch64 (or arm64); default: every architecture")
    listing.add_argument("--region", help="only this region's AMI")
    listing.add_argument("--output", choices=("text", "json"), default="text")
    fetch = verbs.add_parser("download", parents=[stream_url],
                             help="download a disk image, verify its sha256 (and signature), resume a broken one")
    fetch.add_argument("--arch", type=_arch, required=True, help="x86_64 or aarch64 (or arm64)")
    fetch.add_argument("--format", choices=FORMATS, required=True,
                       help="raw.xz (the metal platform) or qcow2.xz (the qemu platform)")
    fetch.add_argument("--decompress", action="store_true",
                       help="write the decompressed image, its uncompressed sha256 verified, instead of the .xz")
    fetch.add_argument("-C", "--directory", default=".", metavar="DIR", help="where to write it (default: here)")
    fetch.add_argument("--max-size", type=_size, metavar="BYTES",
                       help="the largest file written, downloaded or decompressed (default: 64 GiB); a download "
                            "is also never larger than the server announced")
    fetch.add_argument("--trusted-key", action="append", default=[], metavar="FILE", dest="trusted_keys",
                       help="an OpenPGP public key (armored or binary) whose signature of the image counts; again for "
                            "more keys (none: the signature is not verified, and that is said)")


def tool_version() -> str:
    """The installed package's version (pyproject.toml's, as pip recorded it)."""
    try:
        return metadata.version("atomic-release")
    except metadata.PackageNotFoundError:
        return "unknown: atomic-release is not installed (pip install -e . records its version)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="atomic-release", description="ostree commits to public AMIs")
    parser.add_argument("--version", action="version", version=f"%(prog)s {tool_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    local = commands.add_parser("local", help="run atomic-release on this machine, against moto")
    local_commands = local.add_subparsers(dest="local_command", required=True)
    built = _local_options()
    release = local_commands.add_parser("release", parents=[built], help="run one whole release locally")
    release.add_argument("--stream", required=True)
    release.add_argument("--output", choices=("text", "json"), default="text")
    release.add_argument("--publish-dir", metavar="DIR",
                         help="write everything the release made public (stream documents, index, release documents, "
                              "site, images, signatures) to DIR, under the paths they have in the bucket")
    release.add_argument("--public-url", type=_base_url, default=LOCAL_PUBLIC_URL, metavar="URL",
                         help=f"where DIR will be served: the base of the documents' URLs (default: {LOCAL_PUBLIC_URL}, "
                              f"as `python3 -m http.server -b 127.0.0.1 8000 -d DIR` serves it)")
    serve = local_commands.add_parser("serve", parents=[built],
                                      help="serve the releases API and page on 127.0.0.1 over a local runtime")
    serve.add_argument("--stream", default="developer", help="the stream whose repository is built (default: developer)")
    serve.add_argument("--port", type=_port, default=8000, help="port on 127.0.0.1 (default: 8000; 0: any free one)")
    serve.add_argument("--release", action="store_true", help="start the stream's release at once, as the poller would")

    _releases_parsers(commands)
    _images_parsers(commands)

    repo = commands.add_parser("repo", help="look at an ostree repository as the poller does")
    repo_commands = repo.add_subparsers(dest="repo_command", required=True)
    show = repo_commands.add_parser("show", help="every ref with checksum, version, timestamp and who signed it")
    show.add_argument("url")
    show.add_argument("--ref", help="one ref, with its commit's parent, subject and metadata")
    show.add_argument("--trusted-key", action="append", default=[], metavar="FILE", dest="trusted_keys",
                      help="an OpenPGP public key (armored or binary) whose signatures count, as a stream's keys "
                           "do for the poller; again for more keys (none: nothing is verified, signers are listed)")
    show.add_argument("--output", choices=("text", "json"), default="text")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "repo":
            from atomic_release.cli.repo_show import show

            return show(args.url, args.ref, args.output, args.trusted_keys)
        if args.command == "images":
            from atomic_release.cli.images import run as images

            return images(args)
        if args.command == "plan":
            from atomic_release.cli.plan import run as plan

            return plan(args)
        if args.command in ("releases", "release"):
            from atomic_release.cli.releases import run

            return run(args)
        return _run_locally(args)
    except ApiError as error:
        print(f"atomic-release: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        print(f"atomic-release: {describe_validation_error(error, 'release')}", file=sys.stderr)
        return 2
    except (ReleaseError, ValueError, ToolMissing) as error:
        print(f"atomic-release: {error}", file=sys.stderr)
        return 2


# What the local runtime needs beyond the CLI: the ``local`` extra.
LOCAL_EXTRA = ("moto", "samtranslator")


def _run_locally(args: argparse.Namespace) -> int:
    try:
        from atomic_release.cli import local_release
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] not in LOCAL_EXTRA:
            raise
        print(f"atomic-release: the local runtime needs {missing.name}, which this installation lacks: "
              "install the CLI with its local extra (pip install 'atomic-release[local]')", file=sys.stderr)
        return 2
    if args.local_command == "serve":
        return local_release.serve_locally(args)
    return local_release.run_local_release(args)


if __name__ == "__main__":
    sys.exit(main())
