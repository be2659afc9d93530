import base64
import gzip
import json
import secrets
import shlex

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.guest.user_data import (
    USER_DATA_LIMIT,
    UserDataTooLarge,
    builder_user_data,
    read_user_data,
    render_builder,
    render_qa,
    token_fingerprint,
    user_data_text,
)
from tests.unit.data import RSA4096_KEYS

# The longest task token Step Functions may hand out (its API allows 2048 characters).
LONGEST_TOKEN_CHARACTERS = 2048
LONG_RELEASE_ID = "fedora-coreos-testing-devel-43.20261204.3.0-" + "c" * 64

BUILDER = {"task_token": "t", "region": "us-east-1", "repo_url": "https://repo/", "ref": "r", "commit": "c" * 64,
           "target_device": "/dev/sdf", "arch": "x86_64", "install_method": "ostree", "osname": "fedora-coreos",
           "container_image": None, "artifact_bucket": "atomic-release-prod-metadata", "staging_prefix": "staging/r/x86_64/",
           "artifact_files": {"raw.xz": "fedora-coreos-1-metal.x86_64.raw.xz",
                              "qcow2.xz": "fedora-coreos-1-qemu.x86_64.qcow2.xz"}}
QA = {"task_token": "t", "region": "us-east-1", "commit": "c" * 64, "arch": "aarch64", "image_id": "ami-1"}


@given(token=st.text(min_size=1, max_size=300), commit=st.text(max_size=80))
def test_builder_user_data_carries_parameters_verbatim(token, commit):
    params = {**BUILDER, "task_token": token, "commit": commit}
    assert read_user_data(render_builder(params, 120, 300)) == {"role": "builder", **params}


def test_builder_user_data_is_the_builder_script_with_its_variables_set():
    text = render_builder(BUILDER, 120, 300)
    assert text.startswith("#!/bin/bash\n")
    assert "\nDEADLINE_MINUTES=120\n" in text and f"\nCOMMIT={'c' * 64}\n" in text
    assert "\nS3_ENDPOINT=https://s3.us-east-1.amazonaws.com\n" in text  # the region's, path-style
    assert "\nARTIFACT_BUCKET=atomic-release-prod-metadata\n" in text and "\nSTAGING_PREFIX=staging/r/x86_64/\n" in text
    assert "\nRAW_FILE=fedora-coreos-1-metal.x86_64.raw.xz\n" in text
    assert "\nQCOW2_FILE=fedora-coreos-1-qemu.x86_64.qcow2.xz\n" in text
    assert 'shutdown -P "+$DEADLINE_MINUTES"' in text


def test_builder_verifies_signatures_with_the_streams_keys_unless_told_otherwise():
    keys = "\n".join(RSA4096_KEYS)
    verifying = render_builder({**BUILDER, "trusted_keys": RSA4096_KEYS}, 120, 300)
    unverified = render_builder({**BUILDER, "verify_signatures": False, "trusted_keys": RSA4096_KEYS}, 120, 300)

    assert "\nVERIFY_SIGNATURES=true\n" in verifying
    assert f"\nTRUSTED_KEYS={shlex.quote(keys)}\n" in verifying
    assert "\nVERIFY_SIGNATURES=false\n" in unverified and "\nTRUSTED_KEYS=''\n" in unverified


def largest_builder_params() -> dict:
    """A builder's parameters at their largest: the longest token, two RSA-4096 keys, an
    endpoint in a VPC, every optional field set."""
    return {**BUILDER, "task_token": secrets.token_urlsafe(LONGEST_TOKEN_CHARACTERS)[:LONGEST_TOKEN_CHARACTERS],
            "region": "ap-southeast-2", "repo_url": "https://kojipkgs.fedoraproject.org/ostree/repo/",
            "ref": "fedora/aarch64/coreos/testing-devel", "arch": "aarch64",
            "container_image": "quay.io/fedora/fedora-coreos:testing-devel",
            "kernel_arguments": ["console=tty0", "console=ttyS0,115200n8", "mitigations=auto,nosmt"],
            "firstboot": "ignition", "verify_signatures": True, "trusted_keys": RSA4096_KEYS,
            "states_endpoint": "https://vpce-0123456789abcdef0-abcdefgh.states.ap-southeast-2.vpce.amazonaws.com/",
            "imds_endpoint": "http://[fd00:ec2::254]",
            "s3_endpoint": "https://bucket.vpce-0123456789abcdef0-abcdefgh.s3.ap-southeast-2.vpce.amazonaws.com",
            "artifact_bucket": "atomic-release-" + "p" * 48,  # S3's longest name: 63 characters
            "staging_prefix": f"staging/{LONG_RELEASE_ID}/arm64/",
            "artifact_files": {fmt: f"fedora-coreos-43.20261204.3.0-{platform}.aarch64.{fmt}"
                               for fmt, platform in (("raw.xz", "metal"), ("qcow2.xz", "qemu"))}}


def test_builder_user_data_with_two_rsa4096_keys_fits_ec2s_limit_compressed():
    params = largest_builder_params()
    script = render_builder(params, 120, 300)
    user_data = builder_user_data(params, 120, 300)

    assert len(script.encode()) > USER_DATA_LIMIT  # uncompressed, it would not fit
    # 14.3 KiB measured (the script without its comment lines): some room is left
    assert len(user_data) <= 15 * 1024, len(user_data)
    assert user_data_text(user_data) == script
    assert read_user_data(user_data_text(user_data)) == {"role": "builder", **params}


def test_builder_user_data_too_large_for_ec2_is_refused_naming_its_size():
    many_keys = [secrets.token_urlsafe(3000) for _ in range(8)]  # random text: nothing for gzip to find
    with pytest.raises(UserDataTooLarge, match=r"user-data is \d+ bytes compressed, over EC2's 16384: 8 trusted keys"):
        builder_user_data({**BUILDER, "trusted_keys": many_keys}, 120, 300)


def test_user_data_text_reads_plain_and_compressed_user_data():
    assert user_data_text(b"#!/bin/bash\n") == "#!/bin/bash\n"
    assert user_data_text(gzip.compress(b"#!/bin/bash\n")) == "#!/bin/bash\n"


def test_qa_user_data_as_ignition_installs_the_script_and_a_timer():
    config = json.loads(render_qa(QA, "ignition", 60))
    assert config["ignition"]["version"] == "3.4.0"
    files = {f["path"]: base64.b64decode(f["contents"]["source"].split(",", 1)[1]).decode()
             for f in config["storage"]["files"]}
    assert "EXPECTED_ARCH=aarch64" in files["/var/lib/atomic-release/qa"]
    assert "FIRSTBOOT=ignition" in files["/var/lib/atomic-release/qa"]
    assert {u["name"] for u in config["systemd"]["units"] if u.get("enabled")} == {
        "atomic-release-qa.timer", "atomic-release-deadline.service"}
    (service,) = [u for u in config["systemd"]["units"] if u["name"] == "atomic-release-qa.service"]
    assert "Type=exec" in service["contents"]  # a oneshot would hold the boot the script waits for
    assert read_user_data(render_qa(QA, "ignition", 60)) == {"role": "qa", **QA}


def test_qa_user_data_for_cloud_init_schedules_the_script_after_boot():
    text = render_qa(QA, "cloud-init", 60)
    assert "FIRSTBOOT=cloud-init" in text
    assert ("systemd-run --on-active=20 --unit=atomic-release-qa --property=StandardOutput=journal+console "
            "/var/lib/atomic-release/qa") in text
    assert read_user_data(text) == {"role": "qa", **QA}


def test_foreign_user_data_is_not_a_guest():
    assert read_user_data("#cloud-config\nruncmd: []\n") is None
    assert read_user_data('{"ignition": {"version": "3.4.0"}}') is None


def test_token_fingerprint_is_short_and_distinct():
    assert len(token_fingerprint("a")) == 16
    assert token_fingerprint("a") != token_fingerprint("b")


def test_the_rendered_scripts_drop_comment_lines_but_not_a_here_documents_text():
    text = render_builder(BUILDER, 120, 300)
    lines = text.splitlines()

    assert "# Made by the atomic-release builder from ${entry##*/}" in lines  # grub.cfg's first line
    comments = [line for line in lines if line.lstrip().startswith("#")]
    assert comments == ["#!/bin/bash", comments[1], "# Made by the atomic-release builder from ${entry##*/}"]
    assert comments[1].startswith("# atomic-release-params: ")
