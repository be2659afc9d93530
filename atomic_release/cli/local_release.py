"""``atomic-release local release``: one whole release on this machine, printed as it goes; and
``atomic-release local serve``: the releases API and page served on 127.0.0.1 over the same
local runtime, until Ctrl-C."""

import contextlib
import json
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel

from atomic_release.cli.report import ImageRow, image_rows
from atomic_release.cli.text import columns
from atomic_release.local.demo_repo import composed_repository, local_repository
from atomic_release.local.guests.machine import why_real_guests_cannot_run
from atomic_release.local.region_faults import parse_fault
from atomic_release.local.runtime import Finished, LocalRuntime, StageEvent
from atomic_release.local.serving import LOCAL_PUBLIC_URL, until_stopped
from atomic_release.local.simulator import Fault
from chalicelib.core.config import load_streams
from chalicelib.models.record import ReleaseStatus
from chalicelib.models.release import ReleaseInput
from chalicelib.stages.failure import describe_cause
from chalicelib.store import records
from chalicelib.triggers import detect
from chalicelib.triggers.detect import Decision


class LocalResult(BaseModel):
    release_id: str
    stream: str
    version: str
    status: str
    execution_arn: str
    failure: str | None = None
    missing_regions: dict[str, str] = {}
    marketplace: list[str] = []
    marketplace_failed: list[str] = []
    images: list[ImageRow] = []
    metadata_url: str | None = None
    transitions: int
    lambda_invocations: int
    polls: int
    wall_s: float
    guest_reports: list[dict] = []   # real guests: every call they made to Step Functions, as heard
    guest_failures: list[str] = []   # real guests that broke without a report, and why
    published: list[str] = []        # with --publish-dir: the public files written there, by key


def run(runtime: LocalRuntime, release: ReleaseInput, on_stage=None) -> LocalResult:
    """Start the release in the runtime and wait for it to end."""
    started = runtime.start_release(release)
    if started.outcome != "started":
        raise ValueError(started.message)
    return follow(runtime, release.stream, release.version, started.release_id, started.execution_arn, on_stage)


def follow(runtime: LocalRuntime, stream: str, version: str, release_id: str, execution_arn: str,
           on_stage=None) -> LocalResult:
    """Wait for a started release to end, and read back what it published."""
    finished: Finished = runtime.wait(execution_arn, on_stage=on_stage)
    output = finished.output or {}
    record = records.get(release_id)
    # A failure after Announce ends the run FAILED, but the release is out: the record says so.
    with_errors = record is not None and record.status == ReleaseStatus.PUBLISHED_WITH_ERRORS
    return LocalResult(
        release_id=release_id, stream=stream, version=version,
        status=output.get("status") or (record.status if record and with_errors else finished.status),
        execution_arn=finished.execution_arn, missing_regions=output.get("missing", {}),
        marketplace=[record.marketplace[arch].describe for arch in sorted(record.marketplace)] if record else [],
        marketplace_failed=output.get("marketplace_failed", []),
        failure=None if finished.status == "SUCCEEDED" and not with_errors else _failure(release_id, finished),
        images=image_rows(release_id), metadata_url=output.get("metadata_url"),
        transitions=finished.transitions, lambda_invocations=runtime.lambda_invocations, polls=finished.polls,
        wall_s=round(finished.wall_s, 3), guest_reports=getattr(runtime.simulator, "reports", []),
        guest_failures=getattr(runtime.simulator, "failures", []))


def _failure(release_id: str, finished: Finished) -> str:
    """The release record's account of the failure, or the execution's when the release failed
    before it had a record (a rejected input) or while recording it."""
    record = records.get(release_id)
    if record and record.failure:
        return record.failure
    return describe_cause(finished.last_stage or "prepare", finished.error, finished.cause)


def _stage_printer(stream):
    began = time.monotonic()

    def show(event: StageEvent) -> None:
        print(f"[{time.monotonic() - began:6.2f}s] {event.stage:<11} {event.phase}", file=stream, flush=True)

    return show


def _table(result: LocalResult) -> str:
    header = ("ARCH", "REGION", "AMI", "PUBLIC", "SSM PARAMETER")
    rows = [(r.arch, r.region, r.image_id, "yes" if r.public else "NO",
             r.ssm_parameter + ("" if r.ssm_points_here else "  (does not point here)")) for r in result.images]
    return columns(header, rows)


def detect_release(stream_name: str) -> Decision:
    """What the deployed triggers would do: the poller for a stream that releases every
    commit, the biweekly schedule for the others."""
    stream = load_streams().stream(stream_name)
    return detect.poll(stream.name) if stream.cadence == "every-commit" else detect.consider(stream.name, "schedule")


@contextlib.contextmanager
def local_stack(args) -> Iterator[tuple[LocalRuntime, str]]:
    """What ``local release`` and ``local serve`` run on: the stream's repository (built by the
    ostree CLI and served, or ``--repo``) and a started local runtime whose stream reads it, with
    the ``--fault``s. Yields (runtime, repository URL). Bad arguments raise before anything starts."""
    faults = [parse_fault(text) for text in args.fault]
    if any(fault.kind == "builder-hangs" for fault in faults):
        raise ValueError("builder-hangs holds a builder until a test lets it go; here use builder-fails, "
                         "builder-silent or qa-fails")
    load_streams(args.config).stream(args.stream)
    if args.guests == "qemu":
        if reason := why_real_guests_cannot_run():
            raise ValueError(f"--guests qemu: {reason}")
        if faults and any(isinstance(fault, Fault) for fault in faults):
            raise ValueError("--fault builder-* and qa-* are the simulator's; real guests fail only for real")
        if args.repo or args.version:
            raise ValueError("--guests qemu releases the bootable commit composed here; --repo and --version "
                             "are for simulated guests")
        repository = composed_repository(args.stream, args.regions, args.config)
    else:
        version = args.version or datetime.now(UTC).strftime("local.%Y%m%d.%H%M%S")
        repository = local_repository(args.stream, version, args.repo, args.regions, args.config)
    with (repository as (config, repo_url),
          LocalRuntime(config=config, faults=faults, guests=args.guests, repo_url=repo_url,
                       public_base_url=getattr(args, "public_url", LOCAL_PUBLIC_URL)) as runtime):
        yield runtime, repo_url


def start_detected(stream: str, repo_url: str, progress) -> Decision | None:
    """Start the stream's release as the deployed triggers would, saying what was decided; None
    (and why, on stderr) when nothing started."""
    decision = detect_release(stream)
    print(f"{stream}: {decision.reason} (version {decision.version}, repository {repo_url})", file=progress,
          flush=True)
    if decision.outcome != "started":
        print(f"atomic-release: nothing to release: {decision.reason}", file=sys.stderr, flush=True)
        return None
    return decision


def run_local_release(args) -> int:
    as_json = args.output == "json"
    progress = sys.stderr if as_json else sys.stdout
    with local_stack(args) as (runtime, repo_url):
        decision = start_detected(args.stream, repo_url, progress)
        if decision is None:
            return 1
        assert decision.version and decision.release_id and decision.execution_arn, "a started release names its run"
        result = follow(runtime, args.stream, decision.version, decision.release_id, decision.execution_arn,
                        on_stage=_stage_printer(progress))
        if args.publish_dir:
            result.published = runtime.write_public_files(Path(args.publish_dir))
    if as_json:
        print(json.dumps(result.model_dump(mode="json"), indent=2))
    elif result.status in ReleaseStatus.RELEASED:
        print(_table(result))
        print(f"stream metadata: {result.metadata_url}")
        for line in result.marketplace:
            print(f"marketplace: {line}")
        for region, reason in result.missing_regions.items():
            print(f"warning: {region} is not published: {reason}")
        for line in result.marketplace_failed:
            print(f"warning: no Marketplace version: {line}")
        if result.failure:
            print(f"warning: {result.failure}")
        print(f"release {result.release_id} {result.status} in {result.wall_s:.2f} s "
              f"({result.transitions} state transitions, {result.lambda_invocations} Lambda invocations)")
    else:
        print(f"release {result.release_id} {result.status}: {result.failure}")
    if args.publish_dir:
        print(_serving_hint(args.stream, args.publish_dir, args.public_url, len(result.published)), file=progress)
    # The images are public: what is missing is a warning, and a fill-in run's to fix.
    return 0 if result.status in ReleaseStatus.RELEASED else 1


def _serving_hint(stream: str, directory: str, public_url: str, count: int) -> str:
    """How to serve what --publish-dir wrote where its documents say it is, and read it back."""
    parts = urlsplit(public_url)
    serve = (f"python3 -m http.server -b {parts.hostname} {parts.port or 80} -d {directory} (it ignores Range: a "
             "broken images download starts over, resuming needs a server that honours Range)"
             if parts.scheme == "http" and parts.path == "/" else f"serve {directory} at {public_url}")
    return (f"{count} public files written to {directory}; {serve}, then: "
            f"atomic-release images list --stream-url {public_url}streams/{stream}.json")


def serve_locally(args) -> int:
    """``local serve``: the app on 127.0.0.1 over a local runtime, until SIGINT or SIGTERM."""
    from atomic_release.local.api_server import ServedApp

    with local_stack(args) as (runtime, repo_url):
        try:
            served = ServedApp(args.port)
        except OSError as error:
            raise ValueError(f"cannot serve on 127.0.0.1:{args.port}: {error.strerror or error}") from None
        with served:
            print(f"serving the releases API and page on {served.url} (Ctrl-C stops)", flush=True)
            print(f"stream {args.stream} reads {repo_url}; try: atomic-release releases list --api {served.url}",
                  flush=True)
            if args.release:
                decision = start_detected(args.stream, repo_url, sys.stdout)
                if decision is not None:
                    assert decision.release_id, "a started release names its run"
                    _until_recorded(decision.release_id)
                    print(f"follow it: atomic-release releases watch {decision.release_id} --api {served.url}",
                          flush=True)
            until_stopped()
            _abort_running(runtime)
    print("stopped", flush=True)
    return 0


def _until_recorded(release_id: str, patience_s: float = 30) -> None:
    """The API knows a release once its first stage recorded it: the command printed to follow it
    works at once."""
    deadline = time.monotonic() + patience_s
    while records.get(release_id) is None and time.monotonic() < deadline:
        time.sleep(0.05)


def _abort_running(runtime: LocalRuntime) -> None:
    """A run still going is aborted, and what it made removed, before moto stops: its
    interpreter thread must not outlive the mock."""
    from chalicelib.aws.clients import client
    from chalicelib.core.errors import ReleaseError
    from chalicelib.triggers.starter import state_machine_arn

    sfn = client("stepfunctions")
    for execution in sfn.list_executions(stateMachineArn=state_machine_arn(), statusFilter="RUNNING")["executions"]:
        try:
            aborted = runtime.abort(execution["executionArn"])
            print(f"aborted release {aborted['release_id']}, still running at shutdown", flush=True)
        except ReleaseError:   # not recorded yet, or it ended meanwhile
            with contextlib.suppress(Exception):
                sfn.stop_execution(executionArn=execution["executionArn"], error="Aborted", cause="local serve stopped")
