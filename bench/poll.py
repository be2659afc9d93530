"""Benchmark: what a poll costs against a repository of 50 refs (built by the ostree CLI, every
commit and the summary signed, served on 127.0.0.1): unchanged (target: 1 request, no body), and
with one of the stream's refs moved (target: 4 requests: the summary and its signature, the new
commit object and its detached metadata, both verified). The signatures' share is printed apart:
its requests, bytes and the milliseconds spent judging them."""

import tempfile
import time
from pathlib import Path
from unittest import mock

from atomic_release.local.demo_repo import configuration_for
from atomic_release.local.ostree_repo import OstreeRepo
from atomic_release.local.repo_server import RepoServer
from atomic_release.local.runtime import LocalRuntime
from atomic_release.local.signing import temporary_key
from chalicelib.core.config import load_streams
from chalicelib.ostree import repository
from chalicelib.triggers import detect

REFS = 50


class Judging:
    """Times every signature check the reader makes."""

    def __init__(self):
        self.seconds = 0.0
        self._check = repository.check

    def __call__(self, *args, **kwargs):
        started = time.perf_counter()
        try:
            return self._check(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - started


def traffic_of(server: RepoServer, poll) -> dict:
    before = (server.traffic.requests, server.traffic.body_bytes, server.traffic.signature_requests,
              server.traffic.signature_bytes)
    judging = Judging()
    started = time.perf_counter()
    with mock.patch.object(repository, "check", judging):
        decision = poll()
    wall = time.perf_counter() - started
    return {"requests": server.traffic.requests - before[0], "body_bytes": server.traffic.body_bytes - before[1],
            "signature_requests": server.traffic.signature_requests - before[2],
            "signature_bytes": server.traffic.signature_bytes - before[3],
            "verify_ms": round(judging.seconds * 1000, 2), "poll_ms": round(wall * 1000, 1),
            "outcome": decision.outcome}


def measure() -> dict:
    stream = load_streams().stream("developer")
    with temporary_key(name="atomic-release bench signing key") as key, tempfile.TemporaryDirectory() as scratch:
        repo = OstreeRepo(Path(scratch) / "repo", key)
        for index in range(REFS - len(stream.refs)):
            repo.commit(f"fedora/x86_64/coreos/other-{index}", "1.0")
        for ref in stream.refs.values():
            repo.commit(ref, "43.1")
        repo.update_summary()
        with RepoServer(repo.path) as server, \
                LocalRuntime(config=configuration_for(None, "developer", server.url, 1, Path(scratch),
                                                      repo.trusted_keys)) as runtime:
            first = detect.poll("developer")
            runtime.wait(first.execution_arn)
            unchanged = traffic_of(server, lambda: detect.poll("developer"))
            repo.commit(stream.refs["x86_64"], "43.2")
            repo.update_summary()
            one_changed = traffic_of(server, lambda: detect.poll("developer"))
    figures = {"refs": REFS, "unchanged": unchanged, "one_ref_changed": one_changed}
    print(f"poll of a repository with {REFS} refs, signed")
    for name, figure, target in (("unchanged", unchanged, "1 request, 0 bytes"),
                                 ("one ref changed", one_changed, "4 requests")):
        print(f"  {name:<16} {figure['requests']} request(s), {figure['body_bytes']} body bytes, "
              f"{figure['poll_ms']} ms  (target {target}); signatures: {figure['signature_requests']} request(s), "
              f"{figure['signature_bytes']} bytes, {figure['verify_ms']} ms judging them")
    return figures
