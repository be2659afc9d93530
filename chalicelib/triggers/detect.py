"""Commit detection: every way a new commit is noticed (poller, webhook, EventBridge event,
cadence) ends in ``consider``, which reads the stream's refs from its repository, decides
whether they make a release, and hands it to the one function that starts releases."""

from dataclasses import replace
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ValidationError

from chalicelib.core.arch import Arch
from chalicelib.core.config import Stream, describe_validation_error, load_streams
from chalicelib.core.errors import InvalidReleaseInput, NotTheHead, UntrustedCommit, VersionNotFound, VersionTaken
from chalicelib.core.observability import POLL_ERRORS, fail_loudly, logger
from chalicelib.models.poll import KnownHead, PollState
from chalicelib.models.release import ArchCommit, ReleaseInput
from chalicelib.ostree.repository import RefState, Repository, Summary, UnknownRef
from chalicelib.store import records, state
from chalicelib.triggers.starter import start_release
from chalicelib.triggers.trust import reader, require_signed, trusted_summary

Trigger = Literal["poller", "webhook", "event", "schedule", "api"]
# How far down a ref's history a maintainer's release of an older version looks.
VERSION_SEARCH_DEPTH = 50
Outcome = Literal["started", "in-progress", "already-released", "failed-earlier", "waiting", "unchanged",
                  "raced", "on-cadence", "refused", "error"]


class Decision(BaseModel):
    stream: str
    outcome: Outcome
    release_id: str | None = None
    execution_arn: str | None = None
    version: str | None = None
    missing: list[str] = []
    reason: str = ""


def read_refs(stream: Stream, repository: Repository | None = None, summary: Summary | None = None,
              known: dict[str, RefState] | None = None) -> dict[Arch, RefState]:
    """The head of each of the stream's refs. A head not ``known`` already (verified earlier) is
    read from its commit object, whose content is checked against its checksum before the
    release trusts its version, and its signatures are judged. A summary whose ``summary.sig``
    does not verify is refused (UntrustedCommit) when the stream requires signatures."""
    repository = repository or reader(stream)
    names = [stream.refs[arch] for arch in stream.arches]
    if summary is None or summary.refs is None:
        summary = repository.summary()
    if summary is not None:
        trusted_summary(stream, repository, summary)
    found = repository.refs_in(summary, names)
    heads = {}
    for arch in stream.arches:
        head = found[stream.refs[arch]]
        earlier = (known or {}).get(head.name)
        if earlier is not None and earlier.checksum == head.checksum:
            head = _judged(repository, earlier)
        else:
            commit = repository.commit(head.checksum)
            head = RefState(head.name, head.checksum, commit.version, commit.timestamp,
                            repository.signature(head.checksum))
        heads[arch] = head
    return heads


def _judged(repository: Repository, head: RefState) -> RefState:
    """A head read earlier, whose signatures are judged again unless its verdict still holds."""
    return head if head.signature is not None else replace(head, signature=repository.signature(head.checksum))


def candidate(stream: Stream, heads: dict[Arch, RefState], trigger: Trigger,
              now: datetime | None = None) -> tuple[ReleaseInput | None, list[Arch]]:
    """A release when every architecture is at the same version; with the stream's grace
    policy, the architectures at the newest version once it is older than the grace period.
    Returns the release (or None) and the architectures it lacks."""
    newest = max(heads.values(), key=lambda h: (h.timestamp or datetime.min.replace(tzinfo=UTC)))
    version = newest.version
    present = [arch for arch, head in heads.items() if head.version == version and version]
    missing = [arch for arch in heads if arch not in present]
    if not version:
        return None, list(heads)
    if missing:
        grace = stream.partial_release_after_minutes
        # a head without a commit time has no age: it is never past the grace period
        age_minutes = (((now or datetime.now(UTC)) - newest.timestamp).total_seconds() / 60
                       if newest.timestamp else None)
        if grace is None or age_minutes is None or age_minutes < grace:
            return None, missing
    try:
        commits = {arch: ArchCommit(ref=heads[arch].name, checksum=heads[arch].checksum,
                                    timestamp=heads[arch].timestamp, signature=heads[arch].signature)
                   for arch in present}
        return ReleaseInput(stream=stream.name, version=version, commits=commits, trigger=trigger,
                            missing_arches=missing), missing
    except ValidationError as error:
        raise InvalidReleaseInput(f"the repository's commits of stream {stream.name} make no release: "
                                  + describe_validation_error(error, "release")) from None


def _start(stream: Stream, heads: dict[Arch, RefState], trigger: Trigger) -> Decision:
    release, missing = candidate(stream, heads, trigger)
    if release is None:
        return _waiting(stream, missing)
    require_signed(stream, release)
    return _started(stream, release, missing, trigger)


def _waiting(stream: Stream, missing: list[Arch]) -> Decision:
    logger.info("no release yet", extra={"stream": stream.name, "missing": missing})
    return Decision(stream=stream.name, outcome="waiting", missing=missing,
                    reason=f"waiting for {', '.join(missing)} at the newest version")


def _started(stream: Stream, release: ReleaseInput, missing: list[Arch], trigger: Trigger) -> Decision:
    """Start a release whose commits passed ``require_signed``."""
    started = start_release(release)
    logger.info(started.message, extra={"stream": stream.name, "trigger": trigger})
    return Decision(stream=stream.name, outcome=started.outcome, release_id=started.release_id,
                    execution_arn=started.execution_arn, version=release.version, missing=missing,
                    reason=started.message)


def consider(stream_name: str, trigger: Trigger, announced: dict[Arch, str] | None = None) -> Decision:
    """Release the stream's newest commits if they make a release. ``announced`` commits (by
    webhook or event) must be the heads of their refs in the repository."""
    stream = load_streams().stream(stream_name)
    heads = read_refs(stream)
    for arch, checksum in (announced or {}).items():
        if heads[arch].checksum != checksum:
            raise NotTheHead(f"{stream.refs[arch]} in {stream.repo_url} is at {heads[arch].checksum}, "
                             f"not the announced {checksum}", arch=arch)
    if stream.cadence == "biweekly" and trigger != "schedule":
        return Decision(stream=stream.name, outcome="on-cadence", version=heads[stream.arches[0]].version,
                        reason=f"stream {stream.name} releases on its biweekly cadence")
    return _start(stream, heads, trigger)


def release_now(stream_name: str, version: str | None = None) -> Decision:
    """A maintainer's release: the stream's newest commits, or each ref's commit of ``version``
    (looked for down the ref's history), whatever the stream's cadence."""
    stream = load_streams().stream(stream_name)
    repository = reader(stream)
    heads = read_refs(stream, repository)
    if version is None:
        release, missing = candidate(stream, heads, "api")
        if release is None:
            return _waiting(stream, missing)
    else:
        release, missing = _release_of_version(stream, repository, heads, version), []
    taken = next((r for r in records.releases_of(stream.name)
                  if r.version == release.version and r.release_id != release.release_id and r.status != "RETIRED"),
                 None)
    if taken:
        raise VersionTaken(f"version {release.version} of stream {stream.name} is release {taken.release_id} "
                           f"({taken.status}) of other commits; its images' names are taken: retry that release, "
                           "or release a new version")
    require_signed(stream, release)
    return _started(stream, release, missing, "api")


def _release_of_version(stream: Stream, repository: Repository, heads: dict[Arch, RefState],
                        version: str) -> ReleaseInput:
    found = {arch: _commit_of_version(repository, head, version) for arch, head in heads.items()}
    commits = {arch: commit for arch, commit in found.items() if commit is not None}
    lacking = [stream.refs[arch] for arch in found if arch not in commits]
    if lacking:
        raise VersionNotFound(f"version {version} is not among the last {VERSION_SEARCH_DEPTH} commits of "
                              f"{', '.join(lacking)} in {stream.repo_url}")
    return ReleaseInput(stream=stream.name, version=version, trigger="api", commits={
        arch: ArchCommit(ref=c.name, checksum=c.checksum, timestamp=c.timestamp, signature=c.signature)
        for arch, c in commits.items()})


def _commit_of_version(repository: Repository, head: RefState, version: str) -> RefState | None:
    """The newest commit of ``version`` on the ref, from its head down its parents."""
    if head.version == version:
        return head
    commit = repository.commit(head.checksum)
    for _ in range(VERSION_SEARCH_DEPTH):
        if commit.parent is None:
            return None
        try:
            commit = repository.commit(commit.parent)
        except UnknownRef:  # a mirror without the older commit objects
            return None
        if commit.version == version:
            return RefState(head.name, commit.checksum, commit.version, commit.timestamp,
                            repository.signature(commit.checksum))
    return None


def _stored(heads: dict[str, KnownHead], stream: Stream, now: datetime) -> dict[str, RefState]:
    """The heads an earlier poll read, each with its verdict where it still holds: a commit
    verified under the same trusted keys, whose key has not expired since. A refusal is not
    kept: a commit signed after it was first seen (a mirror may sync the commit before its
    signature) is released by the next poll."""
    trust = stream.signatures.trust.digest

    def holding(head: KnownHead):
        signature = head.signature
        if head.trust_digest != trust or signature is None or not signature.verified:
            return None
        return signature if signature.valid_until is None or signature.valid_until > now else None

    return {name: RefState(name, h.checksum, h.version, h.timestamp, holding(h)) for name, h in heads.items()}


def _storable(heads: dict[Arch, RefState], stream: Stream) -> dict[str, KnownHead]:
    return {h.name: KnownHead(checksum=h.checksum, version=h.version, timestamp=h.timestamp, signature=h.signature,
                              trust_digest=stream.signatures.trust.digest) for h in heads.values()}


def poll(stream_name: str, now: datetime | None = None) -> Decision:
    """One poll: a conditional GET of the summary, and a release when the heads make one that
    has not been started yet (a grace period may make one of unchanged heads). The poll state
    advances by a conditional write, so of overlapping polls one acts."""
    stream = load_streams().stream(stream_name)
    if stream.cadence != "every-commit":
        return Decision(stream=stream.name, outcome="on-cadence", reason="released by the biweekly schedule")
    seen = state.get_poll_state(stream.name)
    known = _stored(seen.heads, stream, now or datetime.now(UTC))
    repository = reader(stream)
    try:
        summary = repository.summary(*(() if seen.pending else (seen.etag, seen.last_modified)))
        if summary is not None and summary.not_modified and all(stream.refs[a] in known for a in stream.arches):
            heads = {arch: _judged(repository, known[stream.refs[arch]]) for arch in stream.arches}
        else:
            heads = read_refs(stream, repository, summary if summary and summary.refs is not None else None, known)
    except UntrustedCommit as refusal:
        return _refused(stream, refusal)
    release, missing = candidate(stream, heads, "poller", now)
    document = _read_now(stream, seen, summary, heads, pending=release.release_id if release else None)
    if release is not None and release.version == seen.released_version and release.release_id != seen.released:
        # the late architecture of a version released without it: its images' names are taken
        release, missing = None, [arch for arch in stream.arches if arch not in seen.released_arches]
    if release is None or release.release_id == seen.released:
        _remember(stream, seen, summary, heads)
        if release is None and heads and seen.released_version == max(
                heads.values(), key=lambda h: h.timestamp or datetime.min.replace(tzinfo=UTC)).version:
            how = f"without {', '.join(missing)}" if missing else "from other commits"
            return Decision(stream=stream.name, outcome="unchanged", missing=missing,
                            reason=f"version {seen.released_version} was released {how}; its images' names are "
                                   "taken, so these commits wait for a new version")
        if release is None:
            return Decision(stream=stream.name, outcome="waiting", missing=missing,
                            reason=f"waiting for {', '.join(missing)} at the newest version")
        return Decision(stream=stream.name, outcome="unchanged", release_id=release.release_id,
                        reason="nothing new since the last release")
    try:
        require_signed(stream, release)
    except UntrustedCommit as refusal:
        # the refused heads are remembered, so that the next polls read only their signatures again
        _remember(stream, seen, summary, heads)
        return _refused(stream, refusal)
    if not state.advance_poll_state(stream.name, seen.generation, document):
        return Decision(stream=stream.name, outcome="raced", reason="another poll is acting on this change")
    decision = _started(stream, release, missing, "poller")
    state.advance_poll_state(stream.name, seen.generation + 1, document.model_copy(update={
        "pending": None, "released": release.release_id, "released_version": release.version,
        "released_arches": sorted(release.commits)}))
    return decision


def _read_now(stream: Stream, seen: PollState, summary: Summary | None, heads: dict[Arch, RefState],
              pending: str | None) -> PollState:
    """The poll state with what this poll read: the summary's validators and the heads."""
    return seen.model_copy(update={
        "etag": summary.etag if summary else None, "last_modified": summary.last_modified if summary else None,
        "heads": _storable(heads, stream), "pending": pending})


def _remember(stream: Stream, seen: PollState, summary: Summary | None, heads: dict[Arch, RefState]) -> None:
    """Store what this poll read when it starts nothing: the next one reads only what changes."""
    document = _read_now(stream, seen, summary, heads, pending=None)
    if (document.heads, document.etag, document.last_modified) != (seen.heads, seen.etag, seen.last_modified):
        state.advance_poll_state(stream.name, seen.generation, document)


def _refused(stream: Stream, refusal: UntrustedCommit) -> Decision:
    return Decision(stream=stream.name, outcome="refused", reason=str(refusal))


def _each(streams: list[str], act) -> list[Decision]:
    """Act on every stream; one stream's failure does not stop the others. Then each failed
    stream is counted (PollErrors) and the run fails, naming each (PartlyFailed): a refusal is
    a decision, counted where it was refused, not a failure."""
    decisions = []
    for name in streams:
        try:
            decisions.append(act(name))
        except UntrustedCommit as refusal:   # logged and counted where it was refused
            decisions.append(Decision(stream=name, outcome="refused", reason=str(refusal)))
        except Exception as error:  # noqa: BLE001 - one stream's failure, reported, never the others'
            logger.exception("stream not considered", extra={"stream": name})
            decisions.append(Decision(stream=name, outcome="error", reason=f"{type(error).__name__}: {error}"))
    logger.info("streams considered", extra={"decisions": [d.model_dump() for d in decisions]})
    fail_loudly("considering the streams", POLL_ERRORS, "stream",
                {d.stream: d.reason for d in decisions if d.outcome == "error"})
    return decisions


def poll_all() -> list[Decision]:
    """The scheduled poller: every stream that releases every commit."""
    return _each([s.name for s in load_streams().streams.values() if s.cadence == "every-commit"], poll)


def cadence_all() -> list[Decision]:
    """The biweekly schedule: each biweekly stream's newest commit, unless released already."""
    streams = [s.name for s in load_streams().streams.values() if s.cadence == "biweekly"]
    return _each(streams, lambda name: consider(name, "schedule"))
