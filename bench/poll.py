"""Benchmark: what a poll costs against a repository of 50 refs (built by the ostree CLI and
served on 127.0.0.1): unchanged (target: 1 request, no body), and with one of the stream's refs
moved (target: 2 requests: the summary, and the new commit object, verified)."""

import tempfile
from pathlib import Path

from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.ostree_repo import OstreeRepo
from atomic_release.local.repo_server import RepoServer
from atomic_release.local.runtime import LocalRuntime
from chalicelib.core.config import load_streams
from chalicelib.triggers import detect

REFS = 50


def traffic_of(server: RepoServer, poll) -> dict:
    before = (server.traffic.requests, server.traffic.body_bytes)
    decision = poll()
    return {"requests": server.traffic.requests - before[0], "body_bytes": server.traffic.body_bytes - before[1],
            "outcome": decision.outcome}


def measure() -> dict:
    stream = load_streams().stream("developer")
    with tempfile.TemporaryDirectory() as scratch:
        repo = OstreeRepo(Path(scratch) / "repo")
        for index in range(REFS - len(stream.refs)):
            repo.commit(f"fedora/x86_64/coreos/other-{index}", "1.0")
        for ref in stream.refs.values():
            repo.commit(ref, "43.1")
        repo.update_summary()
        with RepoServer(repo.path) as server, \
                LocalRuntime(config=configuration_for(None, "developer", server.url, 1, Path(scratch))) as runtime:
            first = detect.poll("developer")
            runtime.wait(first.execution_arn)
            unchanged = traffic_of(server, lambda: detect.poll("developer"))
            repo.commit(stream.refs["x86_64"], "43.2")
            repo.update_summary()
            one_changed = traffic_of(server, lambda: detect.poll("developer"))
    figures = {"refs": REFS, "unchanged": unchanged, "one_ref_changed": one_changed}
    print(f"poll of a repository with {REFS} refs")
    print(f"  unchanged        {unchanged['requests']} request(s), {unchanged['body_bytes']} body bytes  "
          f"(target 1 request, 0 bytes)")
    print(f"  one ref changed  {one_changed['requests']} request(s), {one_changed['body_bytes']} body bytes  "
          f"(target 2 requests)")
    return figures

