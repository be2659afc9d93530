"""The S3 endpoint the local builder uploads to, driven by the builder's own upload functions
(sourced from builder.sh, signing with curl's --aws-sigv4 and the credentials of a metadata
server): a multipart upload lands in moto with the bytes sent, a failed one is aborted, and a
request that is not signed right, or whose body is not the sha256 it claims, is refused."""

import hashlib
import lzma
import os
import random
import subprocess
from pathlib import Path

import pytest

from atomic_release.local.guests.credentials import CredentialRegistry
from atomic_release.local.guests.metadata import MetadataServer
from atomic_release.local.guests.s3 import S3Endpoint
from chalicelib.aws.clients import client
from chalicelib.guest.user_data import SCRIPTS

REGION = "us-east-1"
KEY = "staging/rel-1/x86_64/os-1-metal.x86_64.raw.xz"


@pytest.fixture
def endpoints(runtime):
    registry = CredentialRegistry()
    imds = MetadataServer(instance_id="i-0123456789abcdef0", region=REGION, availability_zone=f"{REGION}a",
                          arch="x86_64", image_id="ami-0123456789abcdef0", instance_type="m6i.large",
                          account_id="123456789012", role_name="atomic-release-builder", registry=registry)
    with imds, S3Endpoint(registry) as s3:
        yield imds, s3


def builder_functions(endpoints, tmp_path: Path, commands: str, path: str = os.environ["PATH"]
                      ) -> subprocess.CompletedProcess:
    """``commands`` run in bash after builder.sh's functions are sourced, as the builder has them,
    in parts of 5 MiB (S3's least)."""
    imds, s3 = endpoints
    script = (f"source {SCRIPTS / 'aws.sh'}\nsource {SCRIPTS / 'builder.sh'}\n"
              f"PART_BYTES=$((5 << 20))\nWORK={tmp_path}\n{commands}\n")
    env = {"PATH": path, "REGION": REGION, "IMDS_ENDPOINT": imds.url, "S3_ENDPOINT": s3.url,
           "ARTIFACT_BUCKET": os.environ["METADATA_BUCKET"], "STAGING_PREFIX": "staging/rel-1/x86_64/"}
    return subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=120)


def disk_image(path: Path, size: int) -> bytes:
    """Bytes that compress poorly, so the compressed file spans parts."""
    data = random.Random(18).randbytes(size)
    path.write_bytes(data)
    return data


def test_an_image_is_uploaded_in_parts_and_reported_with_both_sums(endpoints, tmp_path):
    data = disk_image(tmp_path / "disk", 12 << 20)

    done = builder_functions(endpoints, tmp_path, f'upload_image raw.xz os-1-metal.x86_64.raw.xz {tmp_path}/disk\n'
                                                  'printf "%s\\n" "$ARTIFACTS"')

    assert done.returncode == 0, done.stderr
    stored = client("s3", REGION).get_object(Bucket=os.environ["METADATA_BUCKET"], Key=KEY)["Body"].read()
    assert lzma.decompress(stored) == data
    reported = done.stdout.strip().splitlines()[-1]
    assert reported == (f'{{"format":"raw.xz","key":"{KEY}","size":{len(stored)},'
                        f'"sha256":"{hashlib.sha256(stored).hexdigest()}",'
                        f'"uncompressed_sha256":"{hashlib.sha256(data).hexdigest()}"}}')
    operations = [(call.operation, call.part_number, call.outcome) for call in endpoints[1].calls]
    assert operations == [("CreateMultipartUpload", None, "Success"), ("UploadPart", 1, "Success"),
                          ("UploadPart", 2, "Success"), ("UploadPart", 3, "Success"),
                          ("CompleteMultipartUpload", None, "Success")]
    assert not list(tmp_path.glob("part.*"))


def test_a_failed_upload_is_aborted_and_leaves_no_parts(endpoints, tmp_path):
    disk_image(tmp_path / "disk", 1 << 20)
    broken = tmp_path / "bin"
    broken.mkdir()
    # xz fails after a part's worth of output: the parts sent so far must not become an object.
    (broken / "xz").write_text("#!/bin/bash\nhead -c 6000000 /dev/urandom\nexit 1\n")
    (broken / "xz").chmod(0o755)

    done = builder_functions(endpoints, tmp_path, f'trap \'[ "$BASHPID" = "$$" ] && abandon_upload\' ERR\n'
                                                  f'upload_image raw.xz x.raw.xz {tmp_path}/disk',
                             path=f"{broken}:{os.environ['PATH']}")

    assert done.returncode != 0
    bucket = os.environ["METADATA_BUCKET"]
    s3 = client("s3", REGION)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="staging/")
    assert [(call.operation, call.outcome) for call in endpoints[1].calls] == [
        ("CreateMultipartUpload", "Success"), ("UploadPart", "Success"), ("UploadPart", "Success"),
        ("AbortMultipartUpload", "Success")]
