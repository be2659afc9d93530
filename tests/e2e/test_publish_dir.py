"""`atomic-release local release --publish-dir DIR`: what the release made public, on disk as in
the bucket, served over HTTP and read back by the consumer CLI."""

import functools
import json
import os
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from atomic_release.cli.main import main
from atomic_release.local.runtime import PUBLIC_PREFIX, LocalRuntime
from atomic_release.local.serving import BackgroundServer
from chalicelib.aws.clients import client

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ostree_cli")]


@pytest.fixture
def bucket_at_publishing(monkeypatch) -> dict:
    """What the metadata bucket held under streams/ when the public files were written, read
    on its own, and the PUBLIC_BASE_URL the release ran with."""
    seen: dict = {}
    write = LocalRuntime.write_public_files

    def spying(runtime, directory):
        written = write(runtime, directory)
        s3, bucket = client("s3"), os.environ["METADATA_BUCKET"]
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=PUBLIC_PREFIX).get("Contents", [])
        seen["objects"] = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}
        seen["public_base_url"] = os.environ["PUBLIC_BASE_URL"]
        return written

    monkeypatch.setattr(LocalRuntime, "write_public_files", spying)
    return seen


def files_under(directory: Path) -> dict[str, bytes]:
    return {path.relative_to(directory).as_posix(): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def test_the_public_files_equal_the_buckets_and_the_consumer_cli_reads_them(tmp_path, capsys,
                                                                             bucket_at_publishing):
    public = tmp_path / "public"

    code = main(["local", "release", "--stream", "developer", "--regions", "2", "--version", "43.7",
                 "--publish-dir", str(public), "--output", "json"])

    out = capsys.readouterr()
    result = json.loads(out.out)
    assert code == 0
    assert "streams/developer.json" in bucket_at_publishing["objects"]
    assert files_under(public) == bucket_at_publishing["objects"]
    assert result["published"] == sorted(bucket_at_publishing["objects"])
    assert bucket_at_publishing["public_base_url"] == "http://127.0.0.1:8000/"
    assert (f"{len(result['published'])} public files written to {public}; python3 -m http.server -b 127.0.0.1 8000 "
            f"-d {public} (it ignores Range: a broken images download starts over, resuming needs a server that "
            "honours Range), then: atomic-release images list --stream-url "
            f"http://127.0.0.1:8000/streams/developer.json") in out.err

    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(public))
    with BackgroundServer(ThreadingHTTPServer(("127.0.0.1", 0), handler), "public files") as served:
        listed = main(["images", "list", "--stream-url", f"{served.url}/streams/developer.json", "--output", "json"])

    architectures = json.loads(capsys.readouterr().out)["architectures"]
    assert listed == 0
    assert sorted((arch, ami["region"], ami["image"]) for arch, entry in architectures.items()
                  for ami in entry["amis"]) == sorted(
        ({"arm64": "aarch64"}.get(image["arch"], image["arch"]), image["region"], image["image_id"])
        for image in result["images"])


def test_the_public_url_is_the_base_the_release_runs_with(tmp_path, capsys, bucket_at_publishing):
    public = tmp_path / "public"

    code = main(["local", "release", "--stream", "developer", "--regions", "1", "--version", "43.8",
                 "--publish-dir", str(public), "--public-url", "http://127.0.0.1:8123"])

    out = capsys.readouterr().out
    assert code == 0
    assert bucket_at_publishing["public_base_url"] == "http://127.0.0.1:8123/"
    assert out.splitlines()[-1].endswith(f"python3 -m http.server -b 127.0.0.1 8123 -d {public} (it ignores Range: a "
                                         "broken images download starts over, resuming needs a server that honours "
                                         "Range), then: atomic-release images list --stream-url "
                                         "http://127.0.0.1:8123/streams/developer.json")
    assert files_under(public) == bucket_at_publishing["objects"]


@pytest.mark.parametrize("url", ["s3://bucket/", "http://images.example.org/"])
def test_a_public_url_that_is_not_https_nor_local_http_is_refused(tmp_path, capsys, url):
    with pytest.raises(SystemExit) as exited:
        main(["local", "release", "--stream", "developer", "--publish-dir", str(tmp_path), "--public-url", url])

    assert exited.value.code == 2
    assert f"--public-url: not an https URL (or http on 127.0.0.1 or localhost): {url}" in capsys.readouterr().err
