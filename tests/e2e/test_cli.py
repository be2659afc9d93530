"""`atomic-release local release` as a release engineer runs it."""

import json
import shutil

import pytest

from atomic_release.cli.main import main
from atomic_release.local import tools

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("ostree_cli")]


def test_json_output_is_one_object_with_every_image(capsys):
    code = main(["local", "release", "--stream", "developer", "--regions", "3", "--version", "43.1",
                 "--output", "json"])

    out = capsys.readouterr()
    assert code == 0
    result = json.loads(out.out)
    assert result["status"] == "SUCCEEDED"
    assert result["version"] == "43.1"
    assert sorted({(i["arch"], i["region"]) for i in result["images"]}) == sorted(
        (a, r) for a in ("arm64", "x86_64") for r in ("us-east-1", "us-east-2", "us-west-1"))
    assert all(i["public"] and i["ssm_points_here"] for i in result["images"])
    assert result["metadata_url"] == "http://127.0.0.1:8000/streams/developer.json"
    assert "Build       ended" in out.err
    assert out.err.startswith("developer: release developer-43_1-")
    assert "(version 43.1, repository http://127.0.0.1:" in out.err.splitlines()[0]


def test_text_output_shows_stages_and_the_image_table(capsys):
    code = main(["local", "release", "--stream", "developer", "--regions", "2"])

    out = capsys.readouterr().out
    assert code == 0
    for stage in ("Prepare", "Build", "Preflight", "Distribute", "Validate", "Announce", "Finalize"):
        assert f"{stage:<11} started" in out and f"{stage:<11} ended" in out
    assert "ARCH    REGION     AMI" in out
    assert out.count("  yes  ") == 4
    assert "marketplace: arm64 prod-example0armstable: SUCCEEDED, a dry run (change set " in out
    assert "SUCCEEDED" in out.splitlines()[-1]


def test_a_failed_release_exits_non_zero_with_one_sentence(capsys):
    code = main(["local", "release", "--stream", "developer", "--fault", "builder-fails:arm64"])

    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 1
    assert " FAILED: launch-builder (arm64) failed: BuilderFailed: ostree pull " in last


@pytest.mark.parametrize(("args", "message"), [
    (["--stream", "nightly"], "unknown stream 'nightly'"),
    (["--stream", "developer", "--regions", "0"], "--regions must be at least 1"),
    (["--stream", "developer", "--fault", "meteor"], "unknown fault 'meteor'"),
    (["--stream", "developer", "--fault", "builder-hangs"], "builder-hangs holds a builder"),
    (["--stream", "developer", "--fault", "copy-fails:moon-east-1"], "needs an AWS region"),
    (["--stream", "developer", "--fault", "not-opted-in:us-east-2"], "us-east-2 is enabled for every account"),
    (["--stream", "developer", "--version", "not a version"], "release: version: String should match pattern"),
    (["--stream", "developer", "--repo", "http://127.0.0.1:9/"], "http://127.0.0.1:9/summary: ConnectionError"),
])
def test_bad_arguments_are_refused_before_anything_runs(capsys, args, message):
    code = main(["local", "release", *args])

    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(("command", "package"), [("gpg", "gnupg"), ("ostree", "ostree")])
def test_a_missing_debian_tool_is_named_with_its_package(capsys, monkeypatch, command, package):
    found = shutil.which
    monkeypatch.setattr(tools.shutil, "which", lambda name: None if name == command else found(name))

    code = main(["local", "release", "--stream", "developer", "--regions", "1"])

    err = capsys.readouterr().err
    assert code == 2
    assert err == f"atomic-release: the {command} CLI is not installed (Debian package {package!r})\n"


def test_a_partial_release_warns_naming_each_missing_region(capsys):
    code = main(["local", "release", "--stream", "developer", "--regions", "3", "--fault", "copy-fails:us-east-2"])

    out = capsys.readouterr().out
    assert code == 0
    assert "warning: us-east-2 is not published: copy: " in out
    assert out.count("  yes  ") == 4
    assert " PARTIAL in " in out.splitlines()[-1]


def test_an_unknown_region_fault_is_refused_naming_the_form(capsys):
    code = main(["local", "release", "--stream", "developer", "--fault", "copy-fails:mars-1"])

    assert code == 2
    assert "copy-fails:REGION" in capsys.readouterr().err


def test_a_rejected_marketplace_version_warns_and_the_images_stay_public(capsys):
    code = main(["local", "release", "--stream", "developer", "--regions", "2", "--fault",
                 "marketplace-rejects:x86_64", "--output", "json"])

    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert result["status"] == "MARKETPLACE_FAILED"
    assert all(image["public"] for image in result["images"])
    [rejected] = result["marketplace_failed"]
    assert rejected.startswith("x86_64 prod-example0x86stable: FAILED, a dry run (change set ")
    assert "AMI_SCAN_FAILED: The AMI failed the AWS Marketplace security scan" in rejected


def test_the_text_output_warns_of_the_missing_marketplace_version(capsys):
    code = main(["local", "release", "--stream", "developer", "--regions", "2", "--fault", "marketplace-rejects"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.count("warning: no Marketplace version: ") == 2
    assert " MARKETPLACE_FAILED in " in out.splitlines()[-1]
