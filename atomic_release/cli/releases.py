"""``atomic-release releases ...`` and ``atomic-release release STREAM``: the maintainers' API
from a terminal. Text is aligned columns that read the same in a terminal and in a log; ``--output
json`` prints the API's JSON as it came. ``watch`` follows a run live on a terminal, and prints a
line per change elsewhere."""

import json
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import ValidationError
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from atomic_release.cli.api_client import ApiClient, ApiError, HttpError
from chalicelib.models.marketplace import ProductChange
from chalicelib.models.record import ReleaseStatus
from chalicelib.stages.flow import STAGES

# A region's way to being released; any other status has ended it there.
REGION_STEPS = ("planned", "ready", "copying", "copied", "published", "validated")
STAGE_ENDED = ("succeeded", "failed", "not-run")
LIVE_STATUSES = ("RUNNING", "PENDING_REDRIVE")
RUN_RECORDED_WAIT_S = 120.0
_STYLES = {
    "green": ("succeeded", "validated", "published", "SUCCEEDED", "built-earlier"),
    "yellow": ("PARTIAL", "MARKETPLACE_FAILED", "PUBLISHED_WITH_ERRORS", "PUBLISHED", "skipped", "not-run", "copied",
               "ABORTED", "TIMED_OUT", "REFUSED"),
    "red": ("failed", "FAILED"),
    "cyan": ("running", "RUNNING", "copying", "ready"),
}
_STYLE_OF = {status: style for style, statuses in _STYLES.items() for status in statuses}


def _console(file=None) -> Console:
    """Color only on a terminal; never wrapped (a log keeps one line per line)."""
    return Console(file=file or sys.stdout, width=max(120, shutil.get_terminal_size((120, 24)).columns),
                   markup=False, highlight=False, emoji=False, soft_wrap=True)


def _styled(status: str) -> Text:
    return Text(status, style=_STYLE_OF.get(status, ""))


# -- formatting ----------------------------------------------------------------------------------

def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _time(value: str | None) -> str:
    moment = _when(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _duration(start: str | None, end: str | None) -> str:
    began, ended = _when(start), _when(end)
    if began is None or ended is None:
        return ""
    seconds = (ended - began).total_seconds()
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _aligned(header: Sequence[str], rows: Sequence[Sequence[str | Text]], indent: str = "") -> list[Text]:
    """Columns padded to their widest cell; the last one runs on, so nothing wraps."""
    cells = [[cell if isinstance(cell, Text) else Text(str(cell)) for cell in row] for row in [header, *rows]]
    widths = [max(cell.cell_len for cell in column) for column in zip(*cells, strict=True)]
    lines = []
    for number, row in enumerate(cells):
        line = Text(indent)
        for column, (cell, width) in enumerate(zip(row, widths, strict=True)):
            line.append_text(cell)
            if column < len(row) - 1:
                line.append(" " * (width - cell.cell_len + 2))
        line.rstrip()
        if number == 0:
            line.stylize("bold")
        lines.append(line)
    return lines


def _print_lines(console: Console, lines: Sequence[Text | str]) -> None:
    for line in lines:
        console.print(line)


def _image_cell(cell: dict | None) -> str:
    if not cell:
        return "-"
    if cell.get("public"):
        return f"{cell['image_id']} public"
    state = cell.get("state") or ""
    return f"{cell['image_id']} {state if state and state != 'available' else 'private'}"


def _product_line(change: dict) -> str:
    try:
        return ProductChange.model_validate(change).describe
    except ValidationError:
        return f"{change.get('arch')} {change.get('product_id')}: {change.get('status')}"


# -- show ----------------------------------------------------------------------------------------

def warnings(view: dict) -> list[str]:
    """What a release that is out misses, as ``local release`` warns of it."""
    release = view["release"]
    if release["status"] not in ReleaseStatus.OUT:
        return []
    lines = [f"warning: released without {arch}" for arch in release.get("missing_arches", [])]
    lines += [f"warning: {region} is not published: {reason}"
              for region, reason in release.get("missing_regions", {}).items()]
    lines += [f"warning: no Marketplace version: {line}" for line in release.get("missing_products", [])]
    return lines


def render_view(view: dict, console: Console) -> None:
    release = view["release"]
    status = Text.assemble(_styled(release["status"]), f"  (its run: {view['execution_status']})")
    header = [("release", release["release_id"]), ("stream", release["stream"]), ("version", release["version"]),
              ("status", status), ("trigger", release["trigger"]),
              ("created", f"{_time(release['created_at'])} UTC (updated {_time(release['updated_at'])} UTC)")]
    if release.get("metadata_url"):
        header.append(("metadata", release["metadata_url"]))
    width = max(len(key) for key, _ in header) + 2
    _print_lines(console, [Text.assemble(key.ljust(width), value) for key, value in header])
    if release.get("failure"):
        console.print(Text.assemble(("failure: ", "red"), release["failure"]))
        failed_run = next((run for run in view["runs"] if run["execution_arn"] == release["execution_arn"]
                           and run.get("console_url") and run["status"] != "SUCCEEDED"), None)
        if failed_run:
            console.print(f"  the failed state's input, error and cause: {failed_run['console_url']}")

    console.print()
    _print_lines(console, _aligned(("STAGE", "STATUS", "STARTED", "DURATION", "REASON"), [
        (s["name"], _styled(s["status"]), _time(s.get("started_at")), _duration(s.get("started_at"), s.get("ended_at")),
         s.get("reason", "")) for s in view["stages"]]))

    console.print()
    arches = view["arches"]
    _print_lines(console, _aligned(("ARCH", "REF", "COMMIT", "BUILDER", "IMAGE", "QA", "AMI"), [
        (a["arch"], a["ref"], a["checksum"][:12], _styled(a["builder"]), _styled(a["image"]), _styled(a["qa"]),
         a.get("image_id") or "-") for a in arches]))
    for arch in arches:
        if arch.get("signature"):
            console.print(f"  {arch['arch']}: {arch['signature']['text']}")
        for check in arch.get("qa_checks", []):
            if not check["passed"]:
                console.print(f"  {arch['arch']}: QA check {check['name']} failed: expected {check['expected']!r}, "
                              f"got {check['actual']!r}")
        if arch.get("failure") and arch["failure"] != release.get("failure"):
            console.print(f"  {arch['arch']}: {arch['failure']}")

    console.print()
    names = sorted({*release.get("arches", []), *(arch for r in view["regions"] for arch in r.get("images", {}))})
    _print_lines(console, _aligned(("REGION", "STATUS", "STAGE", *(n.upper() for n in names), "REASON"), [
        (r["region"], _styled(r["status"]), r.get("stage", ""), *(_image_cell(r.get("images", {}).get(n)) for n in names),
         r.get("reason", "")) for r in view["regions"]]))
    for change in view.get("marketplace", []):
        console.print(f"marketplace: {_product_line(change)}")

    console.print()
    _print_lines(console, _aligned(("RUN", "KIND", "STATUS", "STARTED", "STOPPED", "IN THE STEP FUNCTIONS CONSOLE"), [
        (run["name"], run["kind"], _styled(run["status"]), _time(run.get("started_at")), _time(run.get("stopped_at")),
         run.get("console_url", "")) for run in view["runs"]]))
    for line in warnings(view):
        console.print(Text(line, style="yellow"))


def render_list(releases: list[dict], console: Console) -> None:
    if not releases:
        console.print("no releases")
        return

    def note(release: dict) -> str:
        if release.get("failure"):
            return release["failure"]
        parts = [f"without {', '.join(release['missing_arches'])}"] if release.get("missing_arches") else []
        if release.get("missing_regions"):
            parts.append(f"missing {', '.join(release['missing_regions'])}")
        return "; ".join(parts)

    _print_lines(console, _aligned(("RELEASE", "STREAM", "VERSION", "STATUS", "TRIGGER", "CREATED (UTC)", "NOTE"), [
        (r["release_id"], r["stream"], r["version"], _styled(r["status"]), r["trigger"], _time(r["created_at"]), note(r))
        for r in releases]))


# -- watch ---------------------------------------------------------------------------------------

def _region_step(status: str) -> int:
    return REGION_STEPS.index(status) if status in REGION_STEPS else len(REGION_STEPS) - 1


def dashboard(view: dict) -> Group:
    """The live display: a bar over the stages, the architectures' steps, a bar per region."""
    release = view["release"]
    stages = view["stages"]
    ended = sum(1 for s in stages if s["status"] in STAGE_ENDED)
    current = next((s for s in stages if s["status"] in ("running", "failed")), None)
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column()
    failed = any(s["status"] == "failed" for s in stages)
    grid.add_row("stages", ProgressBar(total=len(stages) or len(STAGES), completed=ended, width=40,
                                       complete_style="red" if failed else "bar.complete"),
                 Text.assemble(f"{ended}/{len(stages)} ", *((current["name"], " ", _styled(current["status"]))
                                                            if current else ())))
    for arch in view["arches"]:
        grid.add_row(f"  {arch['arch']}", "", Text.assemble(
            "builder ", _styled(arch["builder"]), "  image ", _styled(arch["image"]), "  qa ", _styled(arch["qa"])))
    for region in view["regions"]:
        step, total = _region_step(region["status"]), len(REGION_STEPS) - 1
        bad = region["status"] not in REGION_STEPS
        grid.add_row(f"  {region['region']}", ProgressBar(
            total=total, completed=step, width=40,
            finished_style="red" if region["status"] == "failed" else "yellow" if bad else "bar.finished"),
            Text.assemble(_styled(region["status"]), f"  {region.get('reason', '')}" if region.get("reason") else ""))
    title = Text.assemble(("release ", "bold"), (release["release_id"], "bold"), "  ", _styled(release["status"]),
                          f"  (its run: {view['execution_status']})")
    return Group(title, grid)


def _states(view: dict) -> dict[str, str]:
    """What a plain watch reports a change of: each stage, architecture and region."""
    found = {}
    for stage in view["stages"]:
        found[f"stage {stage['name']:<11}"] = stage["status"] + (f": {stage['reason']}" if stage.get("reason") else "")
    for arch in view["arches"]:
        found[f"arch {arch['arch']:<12}"] = f"builder {arch['builder']}, image {arch['image']}, qa {arch['qa']}"
    for region in view["regions"]:
        detail = ": ".join(part for part in (region.get("stage"), region.get("reason")) if part)
        found[f"region {region['region']:<10}"] = region["status"] + (f" ({detail})" if detail else "")
    return found


_NOTHING_YET = {"stage": "pending", "arch": "builder pending, image pending, qa pending", "region": "planned"}


class Watch:
    def __init__(self, api: ApiClient, release_id: str, interval: float, progress: Console):
        self.api, self.release_id, self.interval, self.progress = api, release_id, interval, progress
        self.began = time.monotonic()

    def sleep(self) -> None:
        time.sleep(self.interval)

    def say(self, line: str) -> None:
        self.progress.print(f"[{time.monotonic() - self.began:6.1f}s] {line}")

    def first_view(self, run_arn: str | None, patience_s: float = RUN_RECORDED_WAIT_S) -> dict:
        """The release once it shows the run ``run_arn`` (a run just started is recorded by its
        first stage, a moment later: until then the release is unknown or shows its last run)."""
        deadline = time.monotonic() + patience_s
        said = False
        while True:
            try:
                view = self.api.release(self.release_id)
            except HttpError as error:
                if error.status != 404 or run_arn is None:
                    raise
                view = None
            if view is not None and (run_arn is None or any(r["execution_arn"] == run_arn for r in view["runs"])):
                return view
            if time.monotonic() > deadline:
                raise ApiError(f"release {self.release_id}: its run {run_arn} is not recorded after "
                               f"{patience_s:.0f} s; see `atomic-release releases show {self.release_id}`")
            assert run_arn is not None, "without a run to wait for, the first view of the release is returned above"
            if not said:
                self.say(f"waiting for release {self.release_id} to record its run {run_arn.rsplit(':', 1)[-1]}")
                said = True
            self.sleep()

    def follow_lines(self, view: dict) -> dict:
        seen = {key: _NOTHING_YET[key.split(" ", 1)[0]] for key in _states(view)}
        status = None
        while True:
            if (view["release"]["status"], view["execution_status"]) != status:
                status = view["release"]["status"], view["execution_status"]
                self.say(f"release {self.release_id} {status[0]} (its run: {status[1]})")
            for key, state in _states(view).items():
                if seen.get(key) != state:
                    self.say(f"{key} {state}")
                    seen[key] = state
            if view["execution_status"] not in LIVE_STATUSES:
                return view
            self.sleep()
            view = self.api.release(self.release_id)

    def follow_live(self, view: dict) -> dict:
        with Live(dashboard(view), console=self.progress, refresh_per_second=4, transient=False) as live:
            while view["execution_status"] in LIVE_STATUSES:
                self.sleep()
                view = self.api.release(self.release_id)
                live.update(dashboard(view))
        return view

    def settled(self, view: dict, tries: int = 5) -> dict:
        """The record once the run's end is written to it (on AWS the rule on an execution's end
        writes an abort or a timeout a moment after the execution stopped)."""
        for _ in range(tries):
            if view["release"]["status"] not in ReleaseStatus.UNSETTLED:
                break
            self.sleep()
            view = self.api.release(self.release_id)
        return view


def watch(api: ApiClient, release_id: str, interval: float, output: str, run_arn: str | None = None) -> int:
    """Follow the release until its run ends; print it as ``show`` does. Exit 0 if it is out."""
    as_json = output == "json"
    progress = _console(sys.stderr if as_json else sys.stdout)
    following = Watch(api, release_id, interval, progress)
    try:
        view = following.first_view(run_arn)
        if view["execution_status"] in LIVE_STATUSES:
            view = following.follow_live(view) if progress.is_terminal else following.follow_lines(view)
            view = following.settled(view)
            if not as_json:
                progress.print()
    except KeyboardInterrupt:
        print(f"\natomic-release: stopped watching; release {release_id} goes on", file=sys.stderr)
        return 130
    if as_json:
        print(json.dumps(view, indent=2))
    else:
        render_view(view, _console())
    return 0 if view["release"]["status"] in ReleaseStatus.RELEASED else 1


# -- the commands --------------------------------------------------------------------------------

def _print_json(body: dict) -> None:
    print(json.dumps(body, indent=2))


def list_releases(api: ApiClient, args) -> int:
    limit = args.limit or (100 if args.all else None)
    page = api.list_releases(args.stream, args.status, limit)
    releases = list(page["releases"])
    while args.all and page.get("next_token"):
        page = api.list_releases(args.stream, args.status, limit, page["next_token"])
        releases.extend(page["releases"])
    more = None if args.all else page.get("next_token")
    if args.output == "json":
        _print_json({"releases": releases, **({"next_token": more} if more else {})} if args.all else page)
        return 0
    render_list(releases, _console())
    if more:
        print("more releases: --all lists every one")
    return 0


def show(api: ApiClient, args) -> int:
    view = api.release(args.release_id)
    if args.output == "json":
        _print_json(view)
    else:
        render_view(view, _console())
    return 0


def retry(api: ApiClient, args) -> int:
    started = api.retry(args.release_id)
    if args.output == "json" and not args.watch:
        _print_json(started)
        return 0
    line = f"release {started['release_id']}: {started['kind']} run {started['outcome']}: {started['execution_arn']}"
    print(line, file=sys.stderr if args.output == "json" else sys.stdout, flush=True)
    if args.watch:
        return watch(api, started["release_id"], args.interval, args.output, run_arn=started["execution_arn"])
    return 0


ABORT_CLEANUP_POLL_S = 1.0
# The run was stopped, but the cleanup after it is not in the record by the deadline (the rule
# on the run's end may have failed): not an API error (2), not a success either.
CLEANUP_NOT_RECORDED = 3


def abort(api: ApiClient, args) -> int:
    """The API answers an abort at once; the cleanup after the run lands in the record a moment
    later, and is waited for here (unless the run stopped before it recorded the release), up to
    ``--cleanup-wait`` seconds."""
    result = api.abort(args.release_id, args.reason)
    if result.get("recorded") and not result.get("cleanup"):
        cleaned = _once_cleaned_up(api, result, args.cleanup_wait)
        if cleaned is None:
            return _cleanup_not_recorded(result, args.output)
        result = cleaned
    if args.output == "json":
        _print_json(result)
        return 0
    cleanup = result.get("cleanup") or {}
    removed = "; ".join(f"{kind} {' '.join(ids)}" for kind, ids in sorted(cleanup.get("removed", {}).items()) if ids)
    print(f"release {result['release_id']} {result['status']}: "
          + (f"removed {removed}" if removed else "nothing left to remove" if cleanup.get("cleaned") else
             f"not cleaned up: {cleanup.get('reason') or 'the end of its run cleans up after it'}"))
    return 0


def _once_cleaned_up(api: ApiClient, result: dict, wait_s: float) -> dict | None:
    """The abort's answer with the cleanup of its run from the record; None when that is not
    there within ``wait_s`` seconds."""
    run = result["abort"]["execution_arn"]
    deadline = time.monotonic() + wait_s
    while True:
        release = api.release(result["release_id"])["release"]
        if (release.get("cleanup") or {}).get("execution_arn") == run:
            return {**result, "status": release["status"], "cleanup": release["cleanup"]}
        if time.monotonic() >= deadline:
            return None
        time.sleep(ABORT_CLEANUP_POLL_S)


def _cleanup_not_recorded(result: dict, output: str) -> int:
    release_id = result["release_id"]
    if output == "json":
        _print_json(result)
    print(f"release {release_id} {result['status']}: stopped; cleanup not yet recorded; see `releases show "
          f"{release_id}`", file=sys.stderr if output == "json" else sys.stdout)
    return CLEANUP_NOT_RECORDED


def release(api: ApiClient, args) -> int:
    as_json = args.output == "json"
    try:
        _, decision = api.trigger(args.stream, args.version)
    except HttpError as error:
        if error.status != 409:
            raise
        if as_json:
            _print_json(error.body)
        print(f"atomic-release: nothing to release: {error.reason}", file=sys.stderr)
        return 1
    if as_json and not args.watch:
        _print_json(decision)
        return 0
    out = sys.stderr if as_json else sys.stdout
    if decision["outcome"] == "started":
        print(f"release {decision['release_id']} started (stream {decision['stream']}, version "
              f"{decision.get('version')}): {decision['execution_arn']}", file=out, flush=True)
    else:
        print(f"{decision['stream']}: {decision.get('reason') or decision['outcome']}", file=out, flush=True)
    if decision.get("missing"):
        print(f"warning: released without {', '.join(decision['missing'])}", file=out, flush=True)
    if args.watch and decision.get("release_id") and decision.get("execution_arn"):
        return watch(api, decision["release_id"], args.interval, args.output, run_arn=decision["execution_arn"])
    return 0


def watch_command(api: ApiClient, args) -> int:
    return watch(api, args.release_id, args.interval, args.output)


def page(api: ApiClient, args) -> int:
    from atomic_release.cli.page_proxy import serve_page

    return serve_page(api, args.port)


_COMMANDS = {"list": list_releases, "show": show, "watch": watch_command, "retry": retry, "abort": abort,
             "page": page}


def run(args) -> int:
    """``release STREAM`` or ``releases COMMAND``; API problems raise ApiError (exit 2)."""
    api = ApiClient(args.api, profile=args.profile, region=args.region)
    return release(api, args) if args.command == "release" else _COMMANDS[args.releases_command](api, args)
