"""The ostree reader against repositories made by the real ostree CLI, served on 127.0.0.1."""

import socket
import threading
from datetime import UTC, datetime

import pytest
import requests
from requests.adapters import HTTPAdapter

from atomic_release.local.repo_server import SIGNATURE_FILES
from chalicelib.ostree.repository import CorruptObject, Repository, RepositoryUnreachable, UnknownRef

X86 = "fedora/x86_64/coreos/stable"
ARM = "fedora/aarch64/coreos/stable"


def test_summary_gives_every_ref_with_checksum_version_and_timestamp(ostree_repo, served):
    x86 = ostree_repo.commit(X86, "41.20261101.3.0")
    arm = ostree_repo.commit(ARM, "41.20261101.3.0")
    ostree_repo.update_summary()

    refs = Repository(served.url).summary().refs

    assert set(refs) == {X86, ARM}
    assert refs[X86].checksum == x86 and refs[ARM].checksum == arm
    assert refs[X86].version == "41.20261101.3.0"
    assert abs((refs[X86].timestamp - datetime.now(UTC)).total_seconds()) < 600


def test_commit_object_gives_version_parent_subject_and_is_verified(ostree_repo, served):
    first = ostree_repo.commit(X86, "41.1", subject="first build")
    second = ostree_repo.commit(X86, "41.2", subject="second build", files={"etc/motd": "two\n"})

    commit = Repository(served.url).commit(second)

    assert (commit.checksum, commit.version, commit.parent, commit.subject) == (second, "41.2", first, "second build")
    assert commit.metadata["ostree.ref-binding"] == [X86]
    assert commit.bootable is False
    assert Repository(served.url).commit(first).parent is None


def test_without_summary_refs_are_read_from_refs_heads(ostree_repo, served):
    checksum = ostree_repo.commit(ARM, "41.3")

    repository = Repository(served.url)

    assert repository.summary() is None
    assert repository.refs([ARM])[ARM].checksum == checksum
    assert repository.refs([ARM])[ARM].version == "41.3"


def test_a_missing_ref_is_a_clear_error_with_the_url(ostree_repo, served):
    ostree_repo.commit(X86, "41.1")
    with pytest.raises(UnknownRef, match=rf"{served.url}refs/heads/{ARM}: no ref '{ARM}'"):
        Repository(served.url).refs([ARM])
    ostree_repo.update_summary()
    with pytest.raises(UnknownRef, match=f"{served.url}summary: no ref '{ARM}'"):
        Repository(served.url).refs([ARM])


def test_a_corrupt_object_is_refused(ostree_repo, served):
    checksum = ostree_repo.commit(X86, "41.1")
    path = ostree_repo.object_path(checksum)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptObject, match=rf"objects/{checksum[:2]}/{checksum[2:]}.commit: content does not match"):
        Repository(served.url).commit(checksum)


def test_an_unchanged_summary_costs_one_request_and_no_body(ostree_repo, served):
    ostree_repo.commit(X86, "41.1")
    ostree_repo.update_summary()
    repository = Repository(served.url)
    first = repository.summary()
    before = (served.traffic.requests, served.traffic.body_bytes)

    again = repository.summary(etag=first.etag, last_modified=first.last_modified)

    assert again.not_modified
    assert (served.traffic.requests - before[0], served.traffic.body_bytes - before[1]) == (1, 0)


@pytest.fixture
def silent_server():
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_a_server_that_never_answers_times_out(silent_server):
    repository = Repository(silent_server, timeout=(0.5, 0.3), retries=1)
    with pytest.raises(RepositoryUnreachable, match=rf"{silent_server}summary: .*(Timeout|timed out)"):
        repository.summary()


def test_a_closed_port_is_unreachable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RepositoryUnreachable, match=f"http://127.0.0.1:{port}/summary"):
        Repository(f"http://127.0.0.1:{port}/", retries=0).summary()


class _AbsentAs(HTTPAdapter):
    """A server (an S3 bucket that may not be listed answers 403) that says ``status`` for every
    detached metadata file, and serves the rest."""

    def __init__(self, status: int):
        super().__init__()
        self.status = status

    def send(self, request, **kwargs):
        if not request.url.endswith(SIGNATURE_FILES):
            return super().send(request, **kwargs)
        answer = requests.Response()
        answer.status_code, answer.url, answer._content = self.status, request.url, b"AccessDenied"
        return answer


@pytest.mark.parametrize("status", [403, 404, 410])
def test_detached_metadata_a_server_says_is_absent_is_none(ostree_repo, served, status):
    checksum = ostree_repo.commit(X86, "41.1")
    ostree_repo.update_summary()
    repository = Repository(served.url)
    repository.session.mount(served.url, _AbsentAs(status))

    assert repository.summary().signature is None
    assert repository.signature(checksum).reason == "no trusted key was given; the commit has no detached metadata: " \
                                                    "it is not signed"
