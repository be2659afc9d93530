"""The signature gate every start passes: a release ships only commits signed by a key its
stream trusts, unless the stream says signatures are not required."""

from typing import NoReturn

from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream
from chalicelib.core.errors import UntrustedCommit
from chalicelib.core.observability import count, logger
from chalicelib.models.release import ReleaseInput
from chalicelib.ostree.repository import Repository, Summary

REFUSALS_METRIC = "UntrustedCommitsRefused"


def reader(stream: Stream) -> Repository:
    """The stream's repository, read with the stream's trusted keys."""
    return Repository(stream.repo_url, trust=stream.signatures.trust)


def trusted_summary(stream: Stream, repository: Repository, summary: Summary) -> None:
    """Refuse a summary whose ``summary.sig`` does not verify, when the stream requires signatures."""
    if summary.signature is None or summary.signature.verified:
        return
    if stream.signatures.required:
        _refuse(stream, f"{repository.url}summary", "", summary.signature.reason)
    logger.warning("summary not signed by a trusted key; the stream does not require signatures",
                   extra={"stream": stream.name, "reason": summary.signature.reason})


def _refuse(stream: Stream, what: str, checksum: str, reason: str, arch: Arch | None = None) -> NoReturn:
    """Refuse a commit (or a summary) not signed by a trusted key: logged, counted, raised."""
    logger.warning("not signed by a trusted key: refused", extra={"stream": stream.name, "ref": what,
                                                                   "commit": checksum, "reason": reason})
    count(REFUSALS_METRIC, stream=stream.name)
    raise UntrustedCommit(f"{what} {checksum}".strip() + f": not signed by a trusted key ({reason})", arch=arch)


def require_signed(stream: Stream, release: ReleaseInput, recorded_only: bool = False) -> None:
    """Every commit the release would ship is signed by a key the stream trusts, or the stream
    does not require it (then Prepare logs each unsigned one, and its record says so).
    ``recorded_only`` (a retry, from the record): commits whose signatures nobody judged (a
    record older than the check, a synthetic release) go on; the builder judges them as it pulls.
    Raises UntrustedCommit before anything starts."""
    if not stream.signatures.required:
        return
    for arch, commit in release.commits.items():
        signature = commit.signature
        if (signature is not None and signature.verified) or (signature is None and recorded_only):
            continue
        _refuse(stream, commit.ref, commit.checksum,
                signature.reason if signature is not None else "its signatures were not checked", arch)
