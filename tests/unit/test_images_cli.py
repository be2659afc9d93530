"""`atomic-release images list|download` against stream documents served on 127.0.0.1 by a
server that does Range requests and can cut a response short."""

import hashlib
import json
import lzma
import random
from pathlib import Path
from urllib.parse import unquote

import pytest
from pysequoia import SignatureMode, Tsk, sign_file

from atomic_release.cli.main import main
from chalicelib.models.documents import UNSIGNED_ARTIFACTS, AtomicStream, AtomicStreamArch
from chalicelib.models.stream_metadata import (
    Artifact,
    ImageFormat,
    Images,
    PlatformArtifacts,
    ReplicatedImage,
    SingleImage,
    Stream,
    StreamArch,
    StreamMetadata,
    document,
)
from tests.file_server import FileServer

FEDORA_STABLE = Path(__file__).parent / "data" / "fedora-coreos" / "stable.json"
VERSION = "43.20260101.1"
BUILDS = f"/streams/stable/builds/{VERSION}"
RAW_NAME = f"fedora-coreos-{VERSION}-metal.x86_64.raw.xz"
QCOW2_NAME = f"fedora-coreos-{VERSION}-qemu.x86_64.qcow2.xz"
RAW_PATH = f"{BUILDS}/x86_64/{RAW_NAME}"
QCOW2_PATH = f"{BUILDS}/x86_64/{QCOW2_NAME}"
DISK = random.Random(18).randbytes(300_000)     # incompressible: the .xz is as large, cut mid-way
RAW_XZ = lzma.compress(DISK)
QCOW2_XZ = lzma.compress(DISK[::-1])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def disk(url: str, path: str, compressed: bytes, uncompressed: bytes, signed: bool = False) -> ImageFormat:
    return ImageFormat(disk=Artifact(location=url + path.lstrip("/"), sha256=sha256(compressed),
                                     uncompressed_sha256=sha256(uncompressed),
                                     signature=url + path.lstrip("/") + ".sig" if signed else None))


def stream_document(url: str, signed: bool = False) -> dict:
    """A stream whose x86_64 offers a raw.xz (signed when ``signed``) and an unsigned qcow2.xz,
    each architecture with AMIs in two regions."""
    def amis(prefix: str) -> Images:
        return Images(aws=ReplicatedImage(regions={
            region: SingleImage(release=VERSION, image=f"ami-{prefix}{n}") for n, region in
            enumerate(("us-east-1", "us-east-2"))}))

    x86_64 = StreamArch(images=amis("0aa"), artifacts={
        "metal": PlatformArtifacts(release=VERSION, formats={"raw.xz": disk(url, RAW_PATH, RAW_XZ, DISK, signed)}),
        "qemu": PlatformArtifacts(release=VERSION, formats={"qcow2.xz": disk(url, QCOW2_PATH, QCOW2_XZ, DISK[::-1])})})
    return document(Stream(stream="stable", metadata=StreamMetadata(last_modified="2026-01-01T00:00:00Z"),
                           architectures={"x86_64": x86_64, "aarch64": StreamArch(images=amis("0bb"))}))


@pytest.fixture
def server():
    with FileServer() as serving:
        serving.files.update({RAW_PATH: RAW_XZ, QCOW2_PATH: QCOW2_XZ})
        serving.files["/streams/stable.json"] = json.dumps(stream_document(serving.url)).encode()
        yield serving


def stream_url(server: FileServer) -> str:
    return server.url + "streams/stable.json"


def download(server: FileServer, directory: Path, *extra: str, fmt: str = "raw.xz") -> int:
    return main(["images", "download", "--stream-url", stream_url(server), "--arch", "x86_64", "--format", fmt,
                 "-C", str(directory), *extra])


def downloads_of(server: FileServer, path: str = RAW_PATH) -> list:
    return [served for served in server.requests if served.path == path]


# -- list --------------------------------------------------------------------------------------------

def test_list_as_json_filters_by_architecture_in_either_name_and_by_region(server, capsys):
    code = main(["images", "list", "--stream-url", stream_url(server), "--arch", "arm64", "--region", "us-east-2",
                 "--output", "json"])

    listed = json.loads(capsys.readouterr().out)
    assert code == 0
    assert listed["stream"] == "stable"
    assert listed["architectures"] == {"aarch64": {
        "amis": [{"region": "us-east-2", "image": "ami-0bb1", "release": VERSION}], "artifacts": []}}


def test_list_as_json_gives_every_download_with_its_sums_and_signature(server, capsys):
    server.files["/streams/stable.json"] = json.dumps(stream_document(server.url, signed=True)).encode()

    main(["images", "list", "--stream-url", stream_url(server), "--arch", "x86_64", "--output", "json"])

    artifacts = json.loads(capsys.readouterr().out)["architectures"]["x86_64"]["artifacts"]
    assert artifacts == [
        {"platform": "metal", "format": "raw.xz", "file": "disk", "release": VERSION,
         "location": server.url + RAW_PATH[1:], "sha256": sha256(RAW_XZ), "uncompressed_sha256": sha256(DISK),
         "signature": server.url + RAW_PATH[1:] + ".sig"},
        {"platform": "qemu", "format": "qcow2.xz", "file": "disk", "release": VERSION,
         "location": server.url + QCOW2_PATH[1:], "sha256": sha256(QCOW2_XZ),
         "uncompressed_sha256": sha256(DISK[::-1]), "signature": None}]


def test_list_as_text_shows_each_architecture_its_amis_and_downloads(server, capsys):
    code = main(["images", "list", "--stream-url", stream_url(server)])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "stream stable, last modified 2026-01-01T00:00:00Z"
    assert out.index("\naarch64\n") < out.index("\nx86_64\n")
    assert f"  us-east-1  ami-0aa0  {VERSION}" in out
    assert f"  us-east-2  ami-0bb1  {VERSION}" in out
    qemu = next(line for line in out.splitlines() if line.startswith("  qemu"))
    assert qemu.split() == ["qemu", "qcow2.xz", "disk", VERSION, sha256(QCOW2_XZ), "unsigned",
                            server.url + QCOW2_PATH[1:]]
    assert "  no downloads" in out   # aarch64's


def test_list_reads_fedora_coreos_own_stable_stream(capsys):
    with FileServer(files={"/stable.json": FEDORA_STABLE.read_bytes()}) as serving:
        code = main(["images", "list", "--stream-url", serving.url + "stable.json", "--arch", "aarch64",
                     "--region", "us-east-1", "--output", "json"])

    fedora = json.loads(FEDORA_STABLE.read_text())["architectures"]["aarch64"]
    listed = json.loads(capsys.readouterr().out)["architectures"]["aarch64"]
    assert code == 0
    assert listed["amis"] == [{"region": "us-east-1", **fedora["images"]["aws"]["regions"]["us-east-1"]}]
    qcow2 = next(a for a in listed["artifacts"] if (a["platform"], a["format"]) == ("qemu", "qcow2.xz"))
    assert qcow2["sha256"] == fedora["artifacts"]["qemu"]["formats"]["qcow2.xz"]["disk"]["sha256"]


@pytest.mark.parametrize(("body", "message"), [
    (b"<html>not json", "is not a stream document: (top level): Invalid JSON"),
    (json.dumps({"stream": "stable", "metadata": {"last-modified": "x"},
                 "architectures": {"x86_64": {"artifacts": {"metal": {"formats": {}}}}}}).encode(),
     "is not a stream document: architectures.x86_64.artifacts.metal.release: Field required"),
])
def test_a_document_that_does_not_validate_is_one_line_naming_what_is_wrong(capsys, body, message):
    with FileServer(files={"/s.json": body}) as serving:
        code = main(["images", "list", "--stream-url", serving.url + "s.json"])

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert err.count("\n") == 1


def test_a_bad_stream_url_is_a_clean_error(server, capsys):
    assert main(["images", "list", "--stream-url", server.url + "streams/nightly.json"]) == 2
    assert main(["images", "list", "--stream-url", "http://127.0.0.1:9/streams/stable.json"]) == 2
    assert main(["images", "list", "--stream-url", "ftp://127.0.0.1/stable.json"]) == 2

    err = capsys.readouterr().err.splitlines()
    assert err == [f"atomic-release: {server.url}streams/nightly.json: HTTP 404",
                   err[1], "atomic-release: --stream-url 'ftp://127.0.0.1/stable.json': not an http or https URL"]
    assert err[1].startswith("atomic-release: http://127.0.0.1:9/streams/stable.json: ConnectionError: ")


# -- download ----------------------------------------------------------------------------------------

def test_download_verifies_and_keeps_a_good_file(server, tmp_path, capsys):
    code = download(server, tmp_path, fmt="qcow2.xz")

    out = capsys.readouterr()
    assert code == 0
    assert out.out == f"{tmp_path / QCOW2_NAME}\n"
    assert (tmp_path / QCOW2_NAME).read_bytes() == QCOW2_XZ
    assert sorted(p.name for p in tmp_path.iterdir()) == [QCOW2_NAME]
    assert out.err == f"{QCOW2_NAME}: {len(QCOW2_XZ)} bytes received in " + out.err.split(" in ", 1)[1]
    assert [(s.range, s.status, s.sent) for s in downloads_of(server, QCOW2_PATH)] == [(None, 200, len(QCOW2_XZ))]


def test_a_corrupted_file_is_deleted_naming_both_sums(server, tmp_path, capsys):
    corrupted = bytearray(RAW_XZ)
    corrupted[1000] ^= 0xFF
    server.files[RAW_PATH] = bytes(corrupted)

    code = download(server, tmp_path)

    err = capsys.readouterr().err
    assert code == 1
    assert (f"atomic-release: {RAW_NAME}: sha256 mismatch: the stream says {sha256(RAW_XZ)}, the file has "
            f"{sha256(bytes(corrupted))}; it was deleted") in err
    assert list(tmp_path.iterdir()) == []


def test_a_cut_download_resumes_with_only_the_rest_transferred(server, tmp_path, capsys):
    server.cut_after[RAW_PATH] = 120_000

    first = download(server, tmp_path)

    assert first == 1
    assert "the download broke off after 120000 bytes" in capsys.readouterr().err
    assert (tmp_path / (RAW_NAME + ".part")).read_bytes() == RAW_XZ[:120_000]

    second = download(server, tmp_path)

    assert second == 0
    assert (tmp_path / RAW_NAME).read_bytes() == RAW_XZ
    assert sorted(p.name for p in tmp_path.iterdir()) == [RAW_NAME]
    assert [(s.range, s.status, s.sent) for s in downloads_of(server)] == [
        (None, 200, 120_000), ("bytes=120000-", 206, len(RAW_XZ) - 120_000)]
    assert "resumed at byte 120000" in capsys.readouterr().err


def test_a_server_that_ignores_range_has_the_download_start_over(server, tmp_path, capsys):
    (tmp_path / (RAW_NAME + ".part")).write_bytes(RAW_XZ[:50_000])
    server.ignore_range = True

    code = download(server, tmp_path)

    assert code == 0
    assert (tmp_path / RAW_NAME).read_bytes() == RAW_XZ
    assert [(s.range, s.status, s.sent) for s in downloads_of(server)] == [("bytes=50000-", 200, len(RAW_XZ))]
    assert (f"{RAW_NAME}.part: the server ignores Range requests (it answered the request for the rest with the whole "
            "file): starting over; resuming needs a server that honours Range") in capsys.readouterr().err


def test_a_part_larger_than_the_file_is_started_over(server, tmp_path):
    (tmp_path / (RAW_NAME + ".part")).write_bytes(RAW_XZ + b"stale tail")

    code = download(server, tmp_path)

    assert code == 0
    assert (tmp_path / RAW_NAME).read_bytes() == RAW_XZ
    assert [(s.range, s.status) for s in downloads_of(server)] == [(f"bytes={len(RAW_XZ) + 10}-", 416), (None, 200)]


def test_a_part_that_is_the_whole_file_is_verified_without_transferring_it_again(server, tmp_path, capsys):
    (tmp_path / (RAW_NAME + ".part")).write_bytes(RAW_XZ)

    code = download(server, tmp_path)

    assert code == 0
    assert (tmp_path / RAW_NAME).read_bytes() == RAW_XZ
    assert [(s.range, s.status, s.sent) for s in downloads_of(server)] == [(f"bytes={len(RAW_XZ)}-", 416, 0)]
    assert f"{RAW_NAME}: already complete in {RAW_NAME}.part" in capsys.readouterr().err


# -- sizes -------------------------------------------------------------------------------------------

def test_a_chunked_body_longer_than_its_content_length_is_cut_at_it_and_deleted(server, tmp_path, capsys):
    server.chunked.add(RAW_PATH)
    server.endless = True
    server.announced[RAW_PATH] = len(RAW_XZ)

    code = download(server, tmp_path)

    assert code == 1
    assert capsys.readouterr().err == (f"atomic-release: {RAW_NAME}: the server sent more than the {len(RAW_XZ)} "
                                       "bytes it announced; the partial download was deleted\n")
    assert list(tmp_path.iterdir()) == []


def test_a_body_of_no_announced_size_is_refused_beyond_max_size(server, tmp_path, capsys):
    server.chunked.add(RAW_PATH)
    server.endless = True

    code = download(server, tmp_path, "--max-size", "100000")

    assert code == 1
    assert capsys.readouterr().err == (f"atomic-release: {RAW_NAME}: more than --max-size 100000 bytes arrived, "
                                       "and the server announced no size; the partial download was deleted\n")
    assert list(tmp_path.iterdir()) == []


def test_a_body_of_no_announced_size_within_max_size_is_downloaded(server, tmp_path):
    server.chunked.add(RAW_PATH)

    code = download(server, tmp_path, "--max-size", str(len(RAW_XZ)))

    assert code == 0
    assert (tmp_path / RAW_NAME).read_bytes() == RAW_XZ


def test_a_file_announced_larger_than_max_size_is_not_downloaded(server, tmp_path, capsys):
    code = download(server, tmp_path, "--max-size", str(len(RAW_XZ) - 1))

    assert code == 1
    assert capsys.readouterr().err == (f"atomic-release: {RAW_NAME}: the server announces {len(RAW_XZ)} bytes, more "
                                       f"than --max-size {len(RAW_XZ) - 1}: not downloaded\n")
    assert list(tmp_path.iterdir()) == []


def test_a_resumed_file_whose_content_range_total_exceeds_max_size_deletes_the_part(server, tmp_path, capsys):
    (tmp_path / (RAW_NAME + ".part")).write_bytes(RAW_XZ[:50_000])

    code = download(server, tmp_path, "--max-size", "200000")

    assert code == 1
    assert f"the server announces {len(RAW_XZ)} bytes, more than --max-size 200000" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert [(s.range, s.status) for s in downloads_of(server)] == [("bytes=50000-", 206)]


def test_decompressed_output_beyond_max_size_is_deleted_and_the_verified_xz_kept(server, tmp_path, capsys):
    zeros = bytes(400_000)
    server.files[RAW_PATH] = lzma.compress(zeros)
    compressible = stream_document(server.url)
    compressible["architectures"]["x86_64"]["artifacts"]["metal"]["formats"]["raw.xz"] = document(
        disk(server.url, RAW_PATH, server.files[RAW_PATH], zeros))
    server.files["/streams/stable.json"] = json.dumps(compressible).encode()

    code = download(server, tmp_path, "--decompress", "--max-size", "300000")

    raw = RAW_NAME.removesuffix(".xz")
    assert code == 1
    assert (f"atomic-release: {RAW_NAME}: it decompresses to more than --max-size 300000 bytes; the partial "
            f"{raw}.part was deleted, {RAW_NAME} (verified) is kept\n") in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == [RAW_NAME]


def test_max_size_must_be_a_positive_number_of_bytes(server, tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        download(server, tmp_path, "--max-size", "0")

    assert exited.value.code == 2
    assert "--max-size: must be a number of bytes more than 0, not 0" in capsys.readouterr().err


# -- decompress --------------------------------------------------------------------------------------

def test_decompress_writes_the_disk_and_checks_its_uncompressed_sum(server, tmp_path, capsys):
    code = download(server, tmp_path, "--decompress")

    raw = tmp_path / RAW_NAME.removesuffix(".xz")
    assert code == 0
    assert capsys.readouterr().out == f"{raw}\n"
    assert raw.read_bytes() == DISK
    assert sorted(p.name for p in tmp_path.iterdir()) == [raw.name]


def test_decompress_refuses_a_disk_whose_uncompressed_sum_differs(server, tmp_path, capsys):
    other = lzma.compress(b"not the disk")
    server.files[RAW_PATH] = other
    document = stream_document(server.url)
    document["architectures"]["x86_64"]["artifacts"]["metal"]["formats"]["raw.xz"]["disk"]["sha256"] = sha256(other)
    server.files["/streams/stable.json"] = json.dumps(document).encode()

    code = download(server, tmp_path, "--decompress")

    err = capsys.readouterr().err
    assert code == 1
    assert (f"uncompressed sha256 mismatch: the stream says {sha256(DISK)}, the decompressed file has "
            f"{sha256(b'not the disk')}; both files were deleted") in err
    assert list(tmp_path.iterdir()) == []


def test_a_stream_as_announce_writes_it_unsigned_downloads_by_the_arch_name_the_site_prints(tmp_path, capsys):
    with FileServer() as serving:
        qcow2 = f"{BUILDS}/aarch64/fedora-coreos-{VERSION}-qemu.aarch64.qcow2.xz"
        serving.files[qcow2] = QCOW2_XZ
        serving.files["/streams/stable.json"] = json.dumps(document(AtomicStream(
            stream="stable", metadata=StreamMetadata(last_modified="2026-01-01T00:00:00Z"), architectures={
                "aarch64": AtomicStreamArch(artifacts_signature=UNSIGNED_ARTIFACTS, artifacts={"qemu": PlatformArtifacts(
                    release=VERSION, formats={"qcow2.xz": disk(serving.url, qcow2, QCOW2_XZ, DISK[::-1])})})}))).encode()

        code = main(["images", "download", "--stream-url", serving.url + "streams/stable.json", "--arch", "aarch64",
                     "--format", "qcow2.xz", "-C", str(tmp_path)])

    assert code == 0, capsys.readouterr().err
    assert [p.read_bytes() for p in tmp_path.iterdir()] == [QCOW2_XZ]


def test_a_location_on_another_host_is_refused_without_contacting_it(tmp_path, capsys):
    with FileServer(files={"/stable.json": FEDORA_STABLE.read_bytes()}) as serving:
        code = main(["images", "download", "--stream-url", serving.url + "stable.json", "--arch", "x86_64",
                     "--format", "qcow2.xz", "-C", str(tmp_path)])

    assert code == 2
    assert "is not at http://127.0.0.1:" in capsys.readouterr().err
    assert [s.path for s in serving.requests] == ["/stable.json"]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", [
    "fedora-coreos-metal.x86_64.raw",        # .raw.xz without .xz: decompressed, it would be itself
    "fedora-coreos-qemu.x86_64.qcow2.xz",    # another format's: decompressed, it would clobber the qcow2
    ".raw.xz", ".hidden.raw.xz", "..%2F..%2Fescaped.raw.xz", "sub%2Fdir.raw.xz", "two..dots.raw.xz",
    "back%5Cslash.raw.xz", "new%0Aline.raw.xz",
])
def test_a_location_that_is_not_a_plain_name_ending_in_the_format_is_refused(server, tmp_path, capsys, name):
    path = f"{BUILDS}/x86_64/{name}"
    server.files[path] = RAW_XZ
    document = stream_document(server.url)
    document["architectures"]["x86_64"]["artifacts"]["metal"]["formats"]["raw.xz"]["disk"]["location"] = \
        server.url + path[1:]
    server.files["/streams/stable.json"] = json.dumps(document).encode()

    code = download(server, tmp_path)

    assert code == 2
    assert capsys.readouterr().err == (f"atomic-release: the stream's location {server.url}{path[1:]} names the file "
                                       f"{unquote(name)!r}: not a plain file name ending in .raw.xz, so it is not "
                                       "written\n")
    assert downloads_of(server, path) == []
    assert list(tmp_path.iterdir()) == []


def test_a_format_the_stream_lacks_is_named_with_what_it_has(server, tmp_path, capsys):
    code = main(["images", "download", "--stream-url", stream_url(server), "--arch", "aarch64", "--format",
                 "raw.xz", "-C", str(tmp_path)])

    assert code == 2
    assert capsys.readouterr().err == "atomic-release: stream stable has no metal raw.xz for aarch64 (it has: no " \
                                      "downloads)\n"


# -- signatures --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def artifact_key():
    return Tsk.generate("atomic-release artifacts <artifacts@example.invalid>")


def signature_of(key: Tsk, data: bytes, scratch: Path, armor: bool = False) -> bytes:
    """A detached signature, binary as Announce makes them (and as Fedora's ``.sig`` are)."""
    (scratch / "signed").write_bytes(data)
    sign_file(key.signer(), str(scratch / "signed"), str(scratch / "signed.sig"), mode=SignatureMode.DETACHED,
              armor=armor)
    return (scratch / "signed.sig").read_bytes()


@pytest.fixture
def signed(server, artifact_key, tmp_path):
    """The raw.xz signed by ``artifact_key``, and the key's public half in a file."""
    server.files["/streams/stable.json"] = json.dumps(stream_document(server.url, signed=True)).encode()
    server.files[RAW_PATH + ".sig"] = signature_of(artifact_key, RAW_XZ, tmp_path)
    public = tmp_path / "artifacts.asc"
    public.write_text(str(artifact_key.extract_certificate()))
    (tmp_path / "out").mkdir()
    return public


@pytest.mark.parametrize("armor", [False, True])
def test_a_good_signature_is_verified(server, signed, artifact_key, tmp_path, capsys, armor):
    server.files[RAW_PATH + ".sig"] = signature_of(artifact_key, RAW_XZ, tmp_path, armor)

    code = download(server, tmp_path / "out", "--trusted-key", str(signed))

    assert code == 0
    assert f"{RAW_NAME}: signature by {artifact_key.extract_certificate().fingerprint.upper()} verified" in \
        capsys.readouterr().err
    assert (tmp_path / "out" / RAW_NAME).read_bytes() == RAW_XZ


def test_a_signature_of_other_bytes_deletes_the_file(server, signed, artifact_key, tmp_path, capsys):
    server.files[RAW_PATH + ".sig"] = signature_of(artifact_key, QCOW2_XZ, tmp_path)

    code = download(server, tmp_path / "out", "--trusted-key", str(signed))

    assert code == 1
    assert f"{RAW_NAME}: bad signature: the signature by trusted key " in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []


def test_a_signature_by_an_untrusted_key_deletes_the_file(server, signed, tmp_path, capsys):
    stranger = Tsk.generate("someone else <else@example.invalid>")
    server.files[RAW_PATH + ".sig"] = signature_of(stranger, RAW_XZ, tmp_path)

    code = download(server, tmp_path / "out", "--trusted-key", str(signed))

    assert code == 1
    assert "which is not a --trusted-key; it was deleted" in capsys.readouterr().err
    assert list((tmp_path / "out").iterdir()) == []


def test_without_a_trusted_key_it_says_the_signature_was_not_verified(server, signed, tmp_path, capsys):
    code = download(server, tmp_path / "out")

    assert code == 0
    assert (f"{RAW_NAME}: signature {server.url}{RAW_PATH[1:]}.sig not verified: fetch the stream's key from "
            f"{server.url}streams/stable/artifact-signing-key.asc, check its fingerprint out of band, and pass "
            "--trusted-key FILE") in capsys.readouterr().err
    assert [s.path for s in server.requests if s.path.endswith((".sig", ".asc"))] == []


def test_an_unsigned_file_is_not_downloaded_when_a_signature_is_asked_for(server, signed, tmp_path, capsys):
    code = download(server, tmp_path / "out", "--trusted-key", str(signed), fmt="qcow2.xz")

    assert code == 1
    assert f"{QCOW2_NAME} is unsigned, and --trusted-key asks for a signature: not downloaded" in \
        capsys.readouterr().err
    assert downloads_of(server, QCOW2_PATH) == []
