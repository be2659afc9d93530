import base64
import json

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.guest.user_data import read_user_data, render_builder, render_qa, token_fingerprint

BUILDER = {"task_token": "t", "region": "us-east-1", "repo_url": "https://repo/", "ref": "r", "commit": "c" * 64,
           "target_device": "/dev/sdf", "arch": "x86_64", "install_method": "ostree", "osname": "fedora-coreos",
           "container_image": None}
QA = {"task_token": "t", "region": "us-east-1", "commit": "c" * 64, "arch": "aarch64", "image_id": "ami-1"}


@given(token=st.text(min_size=1, max_size=300), commit=st.text(max_size=80))
def test_builder_user_data_carries_parameters_verbatim(token, commit):
    params = {**BUILDER, "task_token": token, "commit": commit}
    assert read_user_data(render_builder(params, 120, 300)) == {"role": "builder", **params}


def test_builder_user_data_is_the_builder_script_with_its_variables_set():
    text = render_builder(BUILDER, 120, 300)
    assert text.startswith("#!/bin/bash\n")
    assert "\nDEADLINE_MINUTES=120\n" in text and f"\nCOMMIT={'c' * 64}\n" in text
    assert 'shutdown -P "+$DEADLINE_MINUTES"' in text


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
