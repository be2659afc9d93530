"""Announce publishes the builders' uploads: each staged file copied to its public key with its
sums in its metadata, signed where the stream has a key, and the staging prefix emptied; a file
whose sum or size is not the builder's, or a key that cannot sign, publishes nothing."""

import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from pysequoia import Cert, Sig, Tsk, verify

from atomic_release.local.signing import gpg_cli
from chalicelib.aws import s3
from chalicelib.aws.clients import client
from chalicelib.core.errors import AnnounceFailed
from chalicelib.models.announce import AnnounceTask
from chalicelib.models.artifacts import (
    SIGNATURE_SUFFIX,
    builds_prefix,
    public_key,
    signing_key_key,
    staging_prefix,
)
from chalicelib.stages import artifacts
from functions import announce
from tests.conftest import require_gpg_cli
from tests.integration.support import (
    ARCHES,
    BASE,
    RELEASE_ID,
    STREAM,
    VERSION,
    invoke,
    keep_signing_key,
    outcome,
    plan_arches,
)
from tests.integration.support import (
    ARTIFACT_SIGNING_SECRET as SECRET,
)

OSNAME = "fedora-coreos"


def bucket() -> str:
    return os.environ["METADATA_BUCKET"]


def stage(arch: str, artifact_format: str, body: bytes) -> dict:
    """Upload a file as the builder does, and return the artifact as it reports it."""
    key = f"{staging_prefix(RELEASE_ID, arch)}disk.{artifact_format}"
    client("s3").put_object(Bucket=bucket(), Key=key, Body=body)
    return {"format": artifact_format, "key": key, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
            "uncompressed_sha256": hashlib.sha256(body + b"uncompressed").hexdigest()}


def staged_release(bodies: dict[tuple[str, str], bytes]) -> dict:
    """Announce's input with each architecture's image and the files staged for it."""
    images = {arch: {"arch": arch, "image_id": f"ami-0{index:016x}", "snapshot_id": f"snap-0{index:016x}",
                     "name": f"{STREAM}-{VERSION}-{arch}", "artifacts": []} for index, arch in enumerate(ARCHES)}
    for (arch, artifact_format), body in bodies.items():
        images[arch]["artifacts"].append(stage(arch, artifact_format, body))
    region = outcome(BASE, "validated", "validate", {arch: image["image_id"] for arch, image in images.items()})
    return {"release_id": RELEASE_ID, "stream": STREAM, "version": VERSION, "arches": plan_arches(),
            "regions": [region], "images": list(images.values())}


def files(**sizes: int) -> dict[tuple[str, str], bytes]:
    """Distinct bytes per architecture and format."""
    return {(arch, fmt): os.urandom(sizes.get(arch, 4096)) for arch in ARCHES for fmt in ("raw.xz", "qcow2.xz")}


def public(arch: str, artifact_format: str) -> str:
    return public_key(STREAM, OSNAME, VERSION, arch, artifact_format)


def keys_under(prefix: str) -> list[str]:
    return sorted(found["Key"] for found in s3.objects_under(bucket(), prefix))


def read(key: str) -> bytes:
    return client("s3").get_object(Bucket=bucket(), Key=key)["Body"].read()


def verified_by(key: Tsk, data: bytes, signature: bytes, tmp_path: Path) -> list:
    path = tmp_path / "signed"
    path.write_bytes(data)
    certificate = Cert.from_bytes(str(key.extract_certificate()).encode())
    return verify(file=str(path), signature=Sig.from_bytes(signature), store=lambda ids: [certificate]).valid_sigs


def test_announce_publishes_signed_files_and_empties_staging(signing, signs_with_the_secret, tmp_path):
    bodies = files()

    invoke(announce, staged_release(bodies))

    for (arch, artifact_format), body in bodies.items():
        key = public(arch, artifact_format)
        found = client("s3").head_object(Bucket=bucket(), Key=key)
        assert read(key) == body
        assert found["ContentType"] == "application/x-xz"
        assert found["CacheControl"] == "public, max-age=86400"
        assert found["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
        signature = read(key + SIGNATURE_SUFFIX)
        assert not signature.startswith(b"-----BEGIN")  # binary, as Fedora's .sig
        assert len(verified_by(signing, body, signature, tmp_path)) == 1
    assert keys_under(staging_prefix(RELEASE_ID)) == []


def test_publishing_empties_the_whole_staging_prefix(runtime):
    """What a builder uploaded and did not report: a file of an attempt it retried, an upload in parts."""
    orphan = f"{staging_prefix(RELEASE_ID, 'x86_64')}disk.raw.xz.first-attempt"
    client("s3").put_object(Bucket=bucket(), Key=orphan, Body=b"orphan")
    client("s3").create_multipart_upload(Bucket=bucket(), Key=f"{staging_prefix(RELEASE_ID, 'arm64')}disk.qcow2.xz.2")

    artifacts.publish(AnnounceTask.model_validate(staged_release(files())))

    assert keys_under(staging_prefix(RELEASE_ID)) == []
    assert s3.uploads_under(bucket(), staging_prefix(RELEASE_ID)) == []


def test_the_stream_s_key_is_published_once_and_the_release_names_its_fingerprint(signing, signs_with_the_secret):
    client("s3").put_bucket_versioning(Bucket=bucket(), VersioningConfiguration={"Status": "Enabled"})
    release = staged_release(files())

    invoke(announce, release)
    invoke(announce, {**release, "attempt": 1})  # a fill-in run, after a rebuild of the same key: nothing new
    artifacts.publish_certificate(STREAM, artifacts.signer(SECRET))

    certificate = signing.extract_certificate()
    key = signing_key_key(STREAM)
    assert Cert.from_bytes(read(key)).fingerprint == certificate.fingerprint
    assert read(key).startswith(b"-----BEGIN PGP PUBLIC KEY BLOCK-----") and b"PRIVATE" not in read(key)
    assert len(client("s3").list_object_versions(Bucket=bucket(), Prefix=key)["Versions"]) == 1
    document = json.loads(read(f"streams/{STREAM}/releases/{VERSION}.json"))
    assert {arch["artifacts-signed-by"] for arch in document["architectures"].values()} == {
        certificate.fingerprint.upper()}


def test_a_signature_of_other_bytes_does_not_verify(signing, signs_with_the_secret, tmp_path):
    bodies = files()
    artifacts.publish(AnnounceTask.model_validate(staged_release(bodies)))

    signature = read(public("x86_64", "raw.xz") + SIGNATURE_SUFFIX)

    with pytest.raises(RuntimeError):
        verified_by(signing, bodies[("x86_64", "qcow2.xz")], signature, tmp_path)


def test_a_stream_without_a_key_publishes_its_files_unsigned(runtime):
    bodies = files()

    artifacts.publish(AnnounceTask.model_validate(staged_release(bodies)))

    published = keys_under(builds_prefix(STREAM, VERSION))
    assert published == sorted(public(arch, fmt) for arch, fmt in bodies)
    assert keys_under(staging_prefix(RELEASE_ID)) == []


def test_publishing_again_finds_the_files_public_and_skips_them(signing, signs_with_the_secret):
    client("s3").put_bucket_versioning(Bucket=bucket(), VersioningConfiguration={"Status": "Enabled"})
    task = AnnounceTask.model_validate(staged_release(files()))
    artifacts.publish(task)

    artifacts.publish(task)  # a retried Announce, or a fill-in run: the staged files are gone

    versions = client("s3").list_object_versions(Bucket=bucket(), Prefix=builds_prefix(STREAM, VERSION))["Versions"]
    assert len(versions) == 8  # 4 files and their signatures, each written once
    assert keys_under(staging_prefix(RELEASE_ID)) == []


def test_publish_returns_every_file_as_it_is_public(signing, signs_with_the_secret):
    bodies = files()

    published = artifacts.publish(AnnounceTask.model_validate(staged_release(bodies)))

    fingerprint = signing.extract_certificate().fingerprint.upper()
    assert sorted((f.arch, f.public, f.signed, f.signed_by) for f in published) == sorted(
        (arch, public(arch, fmt), True, fingerprint) for arch, fmt in bodies)


def test_a_key_added_after_the_files_went_public_lists_no_signature_it_did_not_make(runtime, request):
    """A retried Announce or a fill-in run, after the stream was given a key: the files stay as
    they were published, unsigned, and the documents say so."""
    release = staged_release(files())
    artifacts.publish(AnnounceTask.model_validate(release))
    request.getfixturevalue("signs_with_the_secret")
    request.getfixturevalue("signing")

    again = artifacts.publish(AnnounceTask.model_validate(release))
    invoke(announce, release)

    assert {(f.signed, f.signed_by) for f in again} == {(False, None)}
    assert not [key for key in keys_under(builds_prefix(STREAM, VERSION)) if key.endswith(SIGNATURE_SUFFIX)]
    document = json.loads(read(f"streams/{STREAM}/releases/{VERSION}.json"))
    disks = [fmt["disk"] for arch in document["architectures"].values()
             for platform in ("metal", "qemu") for fmt in arch["media"][platform]["artifacts"].values()]
    assert len(disks) == 4
    assert all("signature" not in disk for disk in disks)


def test_files_signed_by_an_earlier_run_keep_their_signature_and_its_key(signing, signs_with_the_secret,
                                                                           streams_config):
    release = staged_release(files())
    artifacts.publish(AnnounceTask.model_validate(release))
    streams_config(lambda raw: raw["streams"][STREAM].update(artifact_signing_key_secret=None))

    again = artifacts.publish(AnnounceTask.model_validate(release))

    assert {(f.signed, f.signed_by) for f in again} == {(True, signing.extract_certificate().fingerprint.upper())}


@pytest.mark.parametrize("signed", [True, False])
def test_a_sum_that_is_not_the_builders_publishes_nothing(runtime, request, signed):
    if signed:
        request.getfixturevalue("signs_with_the_secret")
        request.getfixturevalue("signing")
    release = staged_release(files())
    corrupted = release["images"][1]["artifacts"][1]
    reported, actual = "0" * 64, corrupted["sha256"]
    corrupted["sha256"] = reported

    with pytest.raises(AnnounceFailed, match=f"has sha256 {actual}, the builder reported {reported}"):
        artifacts.publish(AnnounceTask.model_validate(release))

    assert keys_under(builds_prefix(STREAM, VERSION)) == []
    assert len(keys_under(staging_prefix(RELEASE_ID))) == 4  # FailRelease removes them


def test_a_size_that_is_not_the_builders_publishes_nothing_even_unsigned(runtime):
    release = staged_release(files())
    release["images"][0]["artifacts"][0]["size"] += 1

    with pytest.raises(AnnounceFailed, match="holds 4096 bytes, the builder reported 4097"):
        artifacts.publish(AnnounceTask.model_validate(release))

    assert keys_under(builds_prefix(STREAM, VERSION)) == []


def test_a_published_file_is_never_replaced_by_other_bytes(runtime):
    artifacts.publish(AnnounceTask.model_validate(staged_release(files())))
    before = read(public("x86_64", "raw.xz"))

    with pytest.raises(AnnounceFailed, match="is published already with sha256 .*: a published file is never replaced"):
        artifacts.publish(AnnounceTask.model_validate(staged_release(files())))

    assert read(public("x86_64", "raw.xz")) == before


@pytest.mark.parametrize("step", ["_check_staged", "_checked"])
def test_bytes_swapped_in_after_the_check_are_not_published(signing, signs_with_the_secret, monkeypatch, step):
    """A file replaced under its staging key after its size (``_check_staged``) or its sum and
    signature (``_checked``) were checked: the copy is refused by the ETag that was checked."""
    release = staged_release(files())
    swapped = release["images"][0]["artifacts"][0]
    checking = getattr(artifacts, step)

    def then_swap(file, *rest):
        result = checking(file, *rest)
        if file.artifact.key == swapped["key"]:
            client("s3").put_object(Bucket=bucket(), Key=swapped["key"], Body=os.urandom(swapped["size"]))
        return result

    monkeypatch.setattr(artifacts, step, then_swap)

    with pytest.raises(AnnounceFailed, match=f"{swapped['key']} changed after it was checked"):
        artifacts.publish(AnnounceTask.model_validate(release))

    assert public("x86_64", "raw.xz") not in keys_under(builds_prefix(STREAM, VERSION))
    assert public("x86_64", "raw.xz") + SIGNATURE_SUFFIX not in keys_under(builds_prefix(STREAM, VERSION))


def test_a_file_reported_outside_its_staging_prefix_is_refused_and_nothing_is_deleted(runtime):
    release = staged_release(files())
    outside = release["images"][0]["artifacts"][0]
    client("s3").put_object(Bucket=bucket(), Key="streams/developer.json", Body=b"{}")
    outside["key"] = "streams/developer.json"

    with pytest.raises(AnnounceFailed, match="streams/developer.json is not under staging/"):
        artifacts.publish(AnnounceTask.model_validate(release))

    assert read("streams/developer.json") == b"{}"
    assert keys_under(builds_prefix(STREAM, VERSION)) == []


def test_a_format_reported_twice_is_refused(runtime):
    release = staged_release(files())
    images = release["images"]
    images[0]["artifacts"][1]["format"] = images[0]["artifacts"][0]["format"]

    with pytest.raises(AnnounceFailed, match="reported more than once: "):
        artifacts.publish(AnnounceTask.model_validate(release))

    assert keys_under(builds_prefix(STREAM, VERSION)) == []


def test_a_large_file_is_copied_in_parts_with_its_metadata(runtime, monkeypatch):
    monkeypatch.setattr(s3, "_COPY", s3.TransferConfig(multipart_threshold=5 * 1024 * 1024,
                                                       multipart_chunksize=5 * 1024 * 1024))
    body = os.urandom(11 * 1024 * 1024)
    release = staged_release({("x86_64", "raw.xz"): body})

    artifacts.publish(AnnounceTask.model_validate(release))

    found = client("s3").head_object(Bucket=bucket(), Key=public("x86_64", "raw.xz"))
    assert found["ETag"].strip('"').endswith("-3")  # three parts
    assert found["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()
    assert found["ContentType"] == "application/x-xz"
    assert read(public("x86_64", "raw.xz")) == body
    assert s3.uploads_under(bucket(), "") == []


# -- keys that cannot sign ---------------------------------------------------------------------

def public_key_only() -> str:
    return str(Tsk.generate("public <public@example.invalid>").extract_certificate())


def gpg_secret_key(*generate: str, passphrase: str = "", made: str = "") -> str:
    """A key gpg makes (``--quick-gen-key`` arguments after the user id; ``made``: when, as gpg's
    faked system time), exported armored."""
    require_gpg_cli()
    with tempfile.TemporaryDirectory(prefix="ar-gpg-") as home:  # short: gpg's sockets live there
        gpg = [gpg_cli(), "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase]
        try:
            made_then = ["--faked-system-time", made] if made else []
            subprocess.run([*gpg, *made_then, "--quick-gen-key", "gpg <gpg@example.invalid>", *generate], check=True,
                           capture_output=True, timeout=60)
            return subprocess.run([*gpg, "--armor", "--export-secret-keys"], check=True, capture_output=True,
                                  text=True, timeout=60).stdout
        finally:
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False)


@pytest.mark.parametrize(("make_key", "reason"), [
    (lambda: gpg_secret_key("ed25519", "sign", "1y", made="20200101T000000"), "No suitable signing subkey"),
    (public_key_only, "No suitable signing subkey"),
    (lambda: gpg_secret_key("ed25519", "cert", "1y"), "No suitable signing subkey"),
    (lambda: gpg_secret_key("ed25519", "sign", "1y", passphrase="a passphrase"),
     "Invalid argument: secret key material is encrypted"),
    (lambda: "not a key", ""),
], ids=["expired", "public-only", "no-signing-subkey", "passphrase", "garbage"])
def test_a_key_that_cannot_sign_is_refused_naming_its_secret(runtime, signs_with_the_secret, make_key, reason):
    keep_signing_key(make_key())

    with pytest.raises(AnnounceFailed, match=f"the artifact signing key {SECRET} cannot sign: {reason}"):
        artifacts.publish(AnnounceTask.model_validate(staged_release(files())))

    assert keys_under(builds_prefix(STREAM, VERSION)) == []


def test_a_missing_secret_is_refused_naming_it(runtime, signs_with_the_secret):
    with pytest.raises(AnnounceFailed, match=f"the artifact signing key {SECRET} cannot be read: "
                                             "ResourceNotFoundException"):
        artifacts.publish(AnnounceTask.model_validate(staged_release(files())))

    assert keys_under(builds_prefix(STREAM, VERSION)) == []
    assert len(keys_under(staging_prefix(RELEASE_ID))) == 4
