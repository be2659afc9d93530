"""The maintainers' CLI (`atomic-release releases ...`, `atomic-release release STREAM`) as a
maintainer runs it, against the API served on 127.0.0.1 over a local runtime; and
`atomic-release local serve`, which serves it."""

import io
import json
import queue
import re
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from rich.console import Console

import functions.finalize
from atomic_release.cli import releases as releases_cli
from atomic_release.cli.main import main
from atomic_release.local.api_server import ServedApp
from atomic_release.local.region_faults import parse_fault
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.simulator import Fault
from atomic_release.local.synthetic import synthetic_release
from tests.conftest import DEVELOPER_REFS
from tests.helpers import HANG_GUARD_S, release_resources, wait_until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
REGIONS = ["us-east-1", "us-east-2", "us-west-1"]
STAGES = ["prepare", "build", "preflight", "distribute", "validate", "announce", "marketplace", "finalize"]
IMAGE = r"ami-[0-9a-f]{17}"


def released(runtime: LocalRuntime, version: str) -> str:
    started = runtime.start_release(synthetic_release("developer", version, len(REGIONS)))
    runtime.wait(started.execution_arn)
    return started.release_id


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def view_of(url: str, release_id: str) -> dict:
    return requests.get(f"{url}/releases/{release_id}", timeout=30).json()


def region_rows(out: str) -> dict[str, str]:
    return {line.split()[0]: line for line in out.splitlines() if line.split()[:1] and line.split()[0] in REGIONS}


@dataclass
class Finished:
    runtime: LocalRuntime
    url: str
    succeeded: str
    partial: str
    failed: str


class TestFinishedReleases:
    """Three releases that ended: one out everywhere, one missing a region, one failed in QA."""

    @pytest.fixture(scope="class")
    @classmethod
    def finished(cls):
        with LocalRuntime(faults=[parse_fault("copy-fails:us-east-2")]) as runtime:
            partial = released(runtime, "43.1")
            runtime.region_faults.faults.clear()
            succeeded = released(runtime, "43.2")
            runtime.simulator.faults.append(parse_fault("qa-fails:arm64"))
            failed = released(runtime, "43.3")
            runtime.simulator.faults.clear()
            with ServedApp() as served:
                yield Finished(runtime, served.url, succeeded, partial, failed)

    # -- list --------------------------------------------------------------------------------
    def test_list_shows_each_release_newest_first_with_its_status_and_what_it_misses(self, finished, capsys):
        code, out, _ = cli(capsys, "releases", "list", "--api", finished.url)

        assert code == 0
        header, *rows = out.strip().splitlines()
        assert header.split()[:4] == ["RELEASE", "STREAM", "VERSION", "STATUS"]
        assert [row.split()[:4] for row in rows] == [
            [finished.failed, "developer", "43.3", "FAILED"], [finished.succeeded, "developer", "43.2", "SUCCEEDED"],
            [finished.partial, "developer", "43.1", "PARTIAL"]]
        assert rows[0].endswith("evaluate-qa (arm64) failed: QAFailed: arm64: system-state: expected 'running', got "
                                "'degraded (failed units: NetworkManager-wait-online.service)'")
        assert rows[2].endswith("missing us-east-2")

    def test_list_as_json_is_the_apis_page(self, finished, capsys):
        code, out, _ = cli(capsys, "releases", "list", "--api", finished.url, "--output", "json")

        assert code == 0
        assert json.loads(out) == requests.get(f"{finished.url}/releases", timeout=30).json()

    def test_list_filters_by_status_and_all_follows_every_page(self, finished, capsys):
        code, out, _ = cli(capsys, "releases", "list", "--status", "PARTIAL", "--api", finished.url)
        assert code == 0 and [row.split()[0] for row in out.strip().splitlines()[1:]] == [finished.partial]

        code, out, _ = cli(capsys, "releases", "list", "--limit", "1", "--api", finished.url)
        assert code == 0 and out.strip().splitlines()[-1] == "more releases: --all lists every one"

        code, out, _ = cli(capsys, "releases", "list", "--limit", "1", "--all", "--output", "json",
                           "--api", finished.url)
        page = json.loads(out)
        assert code == 0 and "next_token" not in page
        assert [r["release_id"] for r in page["releases"]] == [finished.failed, finished.succeeded, finished.partial]

    def test_list_with_a_bad_status_exits_2_with_the_apis_reason(self, finished, capsys):
        code, out, err = cli(capsys, "releases", "list", "--status", "bogus", "--api", finished.url)

        assert code == 2 and out == ""
        assert "atomic-release: GET /releases?status=bogus: HTTP 400: query: status: " in err
        assert "unknown status 'bogus'" in err

    # -- show --------------------------------------------------------------------------------
    def test_show_of_a_succeeded_release_has_every_region_public_and_no_warning(self, finished, capsys):
        code, out, _ = cli(capsys, "releases", "show", finished.succeeded, "--api", finished.url)

        assert code == 0
        assert out.startswith(f"release   {finished.succeeded}\nstream    developer\nversion   43.2\n"
                              "status    SUCCEEDED  (its run: SUCCEEDED)\ntrigger   cli\n")
        assert "failure:" not in out and "warning:" not in out
        for stage in STAGES:
            assert re.search(rf"^{stage} +succeeded +\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d +\d+\.\d\d s$", out, re.M), stage
        rows = region_rows(out)
        assert list(rows) == REGIONS
        assert all(re.fullmatch(rf"\S+ +validated +validate +{IMAGE} public +{IMAGE} public", row) for row in rows.values())
        view = view_of(finished.url, finished.succeeded)
        for region in view["regions"]:
            assert all(cell["image_id"] in rows[region["region"]] for cell in region["images"].values())
        assert out.count("marketplace: ") == 2
        assert "  x86_64: not checked: the signature was not read when the release started\n" in out
        [run] = view["runs"]
        assert re.search(rf"^{finished.succeeded} +release +SUCCEEDED .* {re.escape(run['console_url'])}$", out, re.M)
        assert "the failed state's" not in out

    def test_show_of_a_partial_release_warns_of_the_missing_region(self, finished, capsys):
        code, out, _ = cli(capsys, "releases", "show", finished.partial, "--api", finished.url)

        assert code == 0
        assert "status    PARTIAL  (its run: SUCCEEDED)" in out
        rows = region_rows(out)
        assert re.fullmatch(rf"us-east-2 +failed +copy +{IMAGE} failed +{IMAGE} failed +arm64 {IMAGE} is failed, "
                            rf"x86_64 {IMAGE} is failed", rows["us-east-2"])
        assert rows["us-east-1"].count(" public") == rows["us-west-1"].count(" public") == 2
        [warning] = [line for line in out.splitlines() if line.startswith("warning:")]
        assert re.fullmatch(rf"warning: us-east-2 is not published: copy: arm64 {IMAGE} is failed, x86_64 {IMAGE} "
                            "is failed", warning)
        assert out.rstrip().endswith(warning)

    def test_show_of_a_failed_release_says_why_in_one_sentence(self, finished, capsys):
        code, out, _ = cli(capsys, "releases", "show", finished.failed, "--api", finished.url)

        assert code == 0
        sentence = ("evaluate-qa (arm64) failed: QAFailed: arm64: system-state: expected 'running', got "
                    "'degraded (failed units: NetworkManager-wait-online.service)'")
        assert "status   FAILED  (its run: FAILED)\n" in out
        [run] = view_of(finished.url, finished.failed)["runs"]
        assert f"\nfailure: {sentence}\n  the failed state's input, error and cause: {run['console_url']}\n" in out
        assert re.search(rf"^{finished.failed} +release +FAILED .* {re.escape(run['console_url'])}$", out, re.M)
        assert re.search(rf"^build +failed +\S+ \S+ +\S+ s +{re.escape(sentence)}$", out, re.M)
        assert all(re.search(rf"^{stage} +not-run$", out, re.M) for stage in STAGES[2:])
        assert re.search(r"^arm64 +fedora/aarch64/coreos/testing-devel +[0-9a-f]{12} +succeeded +succeeded +failed ",
                         out, re.M)
        assert ("  arm64: QA check system-state failed: expected 'running', got "
                "'degraded (failed units: NetworkManager-wait-online.service)'") in out
        assert all(re.fullmatch(r"\S+ +not-run +- +-", row) for row in region_rows(out).values())
        assert "warning:" not in out

    @pytest.mark.parametrize("which", ["succeeded", "partial", "failed"])
    def test_show_as_json_is_the_apis_view(self, finished, capsys, which):
        release_id = getattr(finished, which)

        code, out, _ = cli(capsys, "releases", "show", release_id, "--api", finished.url, "--output", "json")

        shown = json.loads(out)
        assert code == 0
        assert shown == view_of(finished.url, release_id)
        assert shown["release"]["status"] == {"succeeded": "SUCCEEDED", "partial": "PARTIAL", "failed": "FAILED"}[which]
        assert [s["name"] for s in shown["stages"]] == STAGES and [r["region"] for r in shown["regions"]] == REGIONS
        assert shown["runs"] and all(run["console_url"].startswith("https://") and
                                     run["console_url"].endswith(f"#/v2/executions/details/{run['execution_arn']}")
                                     for run in shown["runs"])

    # -- watch -------------------------------------------------------------------------------
    @pytest.mark.parametrize(("which", "expected"), [("succeeded", 0), ("partial", 0), ("failed", 1)])
    def test_watch_of_a_finished_release_shows_it_and_exits_by_its_status(self, finished, capsys, which, expected):
        release_id = getattr(finished, which)
        shown = cli(capsys, "releases", "show", release_id, "--api", finished.url)[1]

        code, out, _ = cli(capsys, "releases", "watch", release_id, "--api", finished.url)

        assert code == expected
        assert out == shown

    def test_watch_as_json_prints_the_final_view(self, finished, capsys):
        code, out, _ = cli(capsys, "releases", "watch", finished.failed, "--api", finished.url, "--output", "json")

        assert code == 1
        assert json.loads(out) == view_of(finished.url, finished.failed)

    # -- refusals ----------------------------------------------------------------------------
    def test_abort_of_a_finished_release_exits_2_with_the_409_reason(self, finished, capsys):
        code, out, err = cli(capsys, "releases", "abort", finished.succeeded, "--api", finished.url)

        assert code == 2 and out == ""
        assert (f"atomic-release: POST /releases/{finished.succeeded}/abort: HTTP 409: release {finished.succeeded} is "
                f"SUCCEEDED and no run of it is running: only a running release is aborted") in err

    def test_retry_of_a_succeeded_release_exits_2_with_the_409_reason(self, finished, capsys):
        code, _, err = cli(capsys, "releases", "retry", finished.succeeded, "--api", finished.url)

        assert code == 2
        assert f"HTTP 409: release {finished.succeeded} is SUCCEEDED: only a release that is PARTIAL" in err

    @pytest.mark.parametrize("verb", ["show", "watch", "retry", "abort"])
    def test_an_unknown_release_exits_2_naming_it(self, finished, capsys, verb):
        code, _, err = cli(capsys, "releases", verb, "developer-nope-000000000000", "--api", finished.url)

        assert code == 2
        assert "HTTP 404: no release developer-nope-000000000000 is recorded" in err

    def test_the_api_taken_from_the_environment(self, finished, capsys, monkeypatch):
        monkeypatch.setenv("ATOMIC_RELEASE_API", finished.url + "/")

        code, out, _ = cli(capsys, "releases", "show", finished.partial, "--output", "json")

        assert code == 0 and json.loads(out)["release"]["release_id"] == finished.partial


def test_without_an_api_the_command_exits_2_saying_how_to_name_one(capsys, monkeypatch):
    monkeypatch.delenv("ATOMIC_RELEASE_API", raising=False)

    code, out, err = cli(capsys, "releases", "list")

    assert code == 2 and out == ""
    assert "pass --api URL or set ATOMIC_RELEASE_API" in err and "atomic-release local serve" in err


def test_an_api_nobody_serves_exits_2_naming_its_url(capsys):
    code, _, err = cli(capsys, "releases", "show", "developer-43_1-0123456789ab", "--api", "http://127.0.0.1:9")

    assert code == 2
    assert err.startswith("atomic-release: cannot reach the API at http://127.0.0.1:9: ")


def test_show_of_a_release_without_a_marketplace_version_warns_of_it(capsys):
    with LocalRuntime(faults=[parse_fault("marketplace-rejects:x86_64")]) as runtime:
        release_id = released(runtime, "43.1")
        with ServedApp() as served:
            code, out, _ = cli(capsys, "releases", "show", release_id, "--api", served.url)

    assert code == 0
    assert "status    MARKETPLACE_FAILED  (its run: SUCCEEDED)" in out
    [warning] = [line for line in out.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: no Marketplace version: x86_64 prod-example0x86stable: FAILED, a dry run "
                              "(change set ")
    assert "AMI_SCAN_FAILED" in warning
    assert all(row.count(" public") == 2 for row in region_rows(out).values())


def test_show_of_a_release_that_failed_after_announce_says_it_is_out_and_what_failed(capsys, monkeypatch):
    def broken(event):
        raise RuntimeError("the record could not be written")

    monkeypatch.setattr(functions.finalize, "finalize", broken)
    with LocalRuntime() as runtime:
        release_id = released(runtime, "43.1")
        with ServedApp() as served:
            code, out, _ = cli(capsys, "releases", "show", release_id, "--api", served.url)
            view = view_of(served.url, release_id)

    failure = "finalize failed: RuntimeError: the record could not be written; the release is out"
    assert (view["release"]["status"], view["release"]["failed_stage"]) == ("PUBLISHED_WITH_ERRORS", "finalize")
    assert view["release"]["failure"].startswith(failure)
    assert [stage["status"] for stage in view["stages"] if stage["name"] == "finalize"] == ["failed"]
    assert code == 0
    assert "status    PUBLISHED_WITH_ERRORS  (its run: FAILED)" in out
    assert f"failure: {failure}" in out
    assert all(row.count(" public") == 2 for row in region_rows(out).values())


# -- retry -----------------------------------------------------------------------------------------

def test_retry_of_a_failed_release_reruns_it_until_it_succeeds(capsys):
    with LocalRuntime(faults=[parse_fault("qa-fails:arm64")]) as runtime:
        release_id = released(runtime, "43.1")
        runtime.simulator.faults.clear()   # the QA problem is fixed
        with ServedApp() as served:
            code, out, _ = cli(capsys, "releases", "retry", release_id, "--api", served.url)
            assert code == 0
            assert out.startswith(f"release {release_id}: rerun run started: arn:aws:states:")
            execution_arn = out.split(": ")[-1].strip()
            assert execution_arn.endswith(f":{release_id}-retry1")
            assert runtime.wait(execution_arn).status == "SUCCEEDED"

            code, out, _ = cli(capsys, "releases", "show", release_id, "--api", served.url, "--output", "json")

    view = json.loads(out)
    assert view["release"]["status"] == "SUCCEEDED" and "failure" not in view["release"]
    assert [(r["kind"], r["status"]) for r in view["runs"]] == [("release", "FAILED"), ("rerun", "SUCCEEDED")]


def test_retry_of_a_partial_release_with_watch_follows_the_fill_in_run_to_the_end(capsys):
    with LocalRuntime(faults=[parse_fault("copy-fails:us-east-2")]) as runtime:
        release_id = released(runtime, "43.1")
        runtime.region_faults.faults.clear()
        with ServedApp() as served:
            code, out, _ = cli(capsys, "releases", "retry", release_id, "--watch", "--interval", "0.1",
                               "--api", served.url)

    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"release {release_id}: fill-in run started: ") and lines[0].endswith("-fill1")
    assert re.search(r"^\[ *\d+\.\ds\] region us-east-2 +validated \(validate\)$", out, re.M)
    assert re.search(r"^\[ *\d+\.\ds\] stage build +not-run$", out, re.M)
    assert "status    SUCCEEDED  (its run: SUCCEEDED)" in out
    assert all(row.count(" public") == 2 for row in region_rows(out).values())
    assert "warning:" not in out
    assert re.search(rf"^{release_id}-fill1 +fill-in +SUCCEEDED ", out, re.M)


def test_abort_of_a_running_release_stops_it_and_says_what_it_removed(capsys):
    with LocalRuntime(faults=[Fault.parse("builder-hangs:arm64")]) as runtime:
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        wait_until(lambda: release_resources(started.release_id, ["us-east-1"])["images"],
                   "x86_64's image registered while arm64 builds", started.execution_arn)
        with ServedApp() as served:
            code, out, _ = cli(capsys, "releases", "abort", started.release_id, "--api", served.url)
            runtime.simulator.finish_hung_guests()
            finished = runtime.wait(started.execution_arn)
            watched = cli(capsys, "releases", "watch", started.release_id, "--api", served.url)

    assert code == 0
    # x86_64 had built: its image and the files its builder staged
    assert re.fullmatch(rf"release {started.release_id} ABORTED: removed files( staging/{started.release_id}/x86_64/"
                        rf"\S+)+; images us-east-1:{IMAGE}; instances( us-east-1:i-\S+)+; .*\n", out)
    assert finished.status == "ABORTED"
    assert watched[0] == 1 and "status   ABORTED  (its run: ABORTED)" in watched[1]


# -- release STREAM ----------------------------------------------------------------------------------

def commit_version(repo, version: str) -> None:
    for ref in DEVELOPER_REFS.values():
        repo.commit(ref, version)
    repo.update_summary()


def test_release_starts_the_streams_newest_commits_and_says_when_nothing_starts(developer_repo, capsys):
    repo, _, runtime = developer_repo
    commit_version(repo, "43.5")
    with ServedApp() as served:
        code, out, _ = cli(capsys, "release", "developer", "--api", served.url)
        assert code == 0
        found = re.fullmatch(r"release (developer-43_5-[0-9a-f]{12}) started \(stream developer, version 43\.5\): "
                             r"(arn:aws:states:\S+)\n", out)
        assert found, out
        assert runtime.wait(found.group(2)).status == "SUCCEEDED"

        again = cli(capsys, "release", "developer", "--api", served.url)
        missing = cli(capsys, "release", "developer", "--version", "no-such", "--api", served.url)

    assert again[0] == 1
    assert f"atomic-release: nothing to release: release {found.group(1)} is already released: {found.group(2)}\n" \
        in again[2]
    assert missing[0] == 2
    assert "atomic-release: POST /releases: HTTP 422: version no-such is not among the last 50 commits of " in missing[2]


def test_release_with_watch_prints_each_change_then_the_release(developer_repo, capsys):
    repo, _, _ = developer_repo
    commit_version(repo, "43.6")
    with ServedApp() as served:
        code, out, _ = cli(capsys, "release", "developer", "--watch", "--interval", "0.1", "--api", served.url)

    assert code == 0
    assert re.search(r"^\[ *\d+\.\ds\] stage finalize +succeeded$", out, re.M)
    assert re.search(r"^\[ *\d+\.\ds\] release developer-43_6-\S+ SUCCEEDED \(its run: SUCCEEDED\)$", out, re.M)
    changes = [line for line in out.splitlines() if line.startswith("[")]
    assert len(changes) == len(set(line.split("] ", 1)[1] for line in changes)), "each change once"
    assert "status    SUCCEEDED  (its run: SUCCEEDED)" in out
    assert list(region_rows(out)) == ["us-east-1", "us-east-2"]


def test_watch_on_a_terminal_shows_bars_that_end_full(developer_repo, capsys, monkeypatch):
    repo, _, _ = developer_repo
    commit_version(repo, "43.7")
    monkeypatch.setattr(releases_cli, "_console", lambda file=None: Console(
        file=file or sys.stdout, force_terminal=True, width=120, markup=False, highlight=False, soft_wrap=True))
    with ServedApp() as served:
        code, out, err = cli(capsys, "release", "developer", "--watch", "--interval", "0.1", "--output", "json",
                             "--api", served.url)

    assert code == 0
    assert json.loads(out)["release"]["status"] == "SUCCEEDED"
    # With --output json the live display went to stderr: the release, its stages' bar, a bar per region.
    assert re.search(r"release developer-43_7-[0-9a-f]{12}", err)
    assert "\x1b[" in err and "stages" in err and "8/8" in err and "us-east-2" in err


def test_the_dashboard_has_a_bar_for_the_stages_and_each_region():
    view = {"release": {"release_id": "developer-43_1-0123456789ab", "status": "RUNNING"},
            "execution_status": "RUNNING",
            "stages": [{"name": name, "status": "succeeded" if name in STAGES[:3] else "running" if name == "distribute"
                        else "pending"} for name in STAGES],
            "arches": [{"arch": "x86_64", "builder": "succeeded", "image": "succeeded", "qa": "succeeded"}],
            "regions": [{"region": "us-east-1", "status": "copied"},
                        {"region": "us-east-2", "status": "failed", "reason": "arm64 ami-1 is failed"}]}
    console = Console(width=120, record=True, file=io.StringIO())

    console.print(releases_cli.dashboard(view))

    text = console.export_text()
    assert "3/8 distribute running" in text
    assert re.search(r"us-east-1 +━+ +copied", text)
    assert re.search(r"us-east-2 +━+ +failed  arm64 ami-1 is failed", text)
    assert "builder succeeded  image succeeded  qa succeeded" in text


# -- local serve -------------------------------------------------------------------------------------

@pytest.mark.usefixtures("ostree_cli")
def test_local_serve_serves_the_api_with_a_release_until_interrupted(tmp_path, capsys):
    server = subprocess.Popen(
        [sys.executable, "-m", "atomic_release.cli", "local", "serve", "--port", "0", "--regions", "2", "--release"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=(tmp_path / "stderr").open("w"), text=True)
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in server.stdout], daemon=True).start()
    try:
        printed = [lines.get(timeout=HANG_GUARD_S) for _ in range(4)]
        found = re.fullmatch(r"serving the releases API and page on (http://127\.0\.0\.1:\d+) \(Ctrl-C stops\)\n",
                             printed[0])
        assert found, printed
        url = found.group(1)
        assert printed[2].startswith("developer: release developer-local_")
        release_id = printed[3].split()[5]
        assert printed[3] == f"follow it: atomic-release releases watch {release_id} --api {url}\n"

        code, out, err = cli(capsys, "releases", "watch", release_id, "--interval", "0.2", "--api", url)
        assert code == 0, err
        assert "status    SUCCEEDED  (its run: SUCCEEDED)" in out

        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=HANG_GUARD_S) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert lines.get(timeout=HANG_GUARD_S) == "stopped\n"
    assert "Traceback" not in (tmp_path / "stderr").read_text()


def test_serve_aborts_a_run_still_going_when_it_stops(capsys):
    from atomic_release.cli.local_release import _abort_running
    from chalicelib.store import records

    with LocalRuntime(faults=[Fault.parse("builder-hangs:arm64")]) as runtime:
        started = runtime.start_release(synthetic_release("developer", "43.1", len(REGIONS)))
        wait_until(lambda: records.get(started.release_id) is not None, "the release recorded", started.execution_arn)

        _abort_running(runtime)
        runtime.simulator.finish_hung_guests()
        finished = runtime.wait(started.execution_arn)
        record = records.get(started.release_id)

    assert capsys.readouterr().out == f"aborted release {started.release_id}, still running at shutdown\n"
    assert (finished.status, record.status) == ("ABORTED", "ABORTED")
