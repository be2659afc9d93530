"""`atomic-release repo show`: what the poller sees, for a release engineer."""

import json
import subprocess
from datetime import UTC, datetime

import pytest

from atomic_release.cli.main import main

X86 = "fedora/x86_64/coreos/stable"
ARM = "fedora/aarch64/coreos/stable"


def test_lists_every_ref_with_checksum_version_and_timestamp(ostree_repo, served, capsys):
    x86 = ostree_repo.commit(X86, "41.1")
    arm = ostree_repo.commit(ARM, "41.2")
    ostree_repo.update_summary()

    assert main(["repo", "show", served.url, "--output", "json"]) == 0

    refs = {r["ref"]: r for r in json.loads(capsys.readouterr().out)["refs"]}
    assert (refs[X86]["checksum"], refs[X86]["version"]) == (x86, "41.1")
    assert (refs[ARM]["checksum"], refs[ARM]["version"]) == (arm, "41.2")
    assert refs[X86]["timestamp"].endswith("+00:00")


def test_one_ref_shows_its_commit(ostree_repo, served, capsys):
    first = ostree_repo.commit(X86, "41.1")
    second = ostree_repo.commit(X86, "41.2", subject="Second build")
    ostree_repo.update_summary()

    assert main(["repo", "show", served.url, "--ref", X86]) == 0

    out = capsys.readouterr().out
    assert f"checksum   {second}" in out
    assert f"parent     {first}" in out
    assert "subject    Second build" in out
    assert 'metadata   version = "41.2"' in out


def test_a_missing_ref_and_a_missing_summary_are_clear_errors(ostree_repo, served, capsys):
    ostree_repo.commit(X86, "41.1")

    assert main(["repo", "show", served.url]) == 2
    assert "publishes no summary" in capsys.readouterr().err
    assert main(["repo", "show", served.url, "--ref", ARM]) == 2
    assert f"refs/heads/{ARM}: no ref '{ARM}'" in capsys.readouterr().err


# signatures: what the poller would make of each commit, given the keys it trusts

@pytest.fixture
def key_file(tmp_path, signing_key) -> str:
    path = tmp_path / "signing-key.asc"
    path.write_text(signing_key.public)
    return str(path)


def test_with_the_signing_key_each_commit_and_the_summary_are_verified(ostree_repo, served, key_file, signing_key,
                                                                        capsys):
    ostree_repo.commit(X86, "41.1")
    ostree_repo.update_summary()

    assert main(["repo", "show", served.url, "--trusted-key", key_file, "--output", "json"]) == 0

    shown = json.loads(capsys.readouterr().out)
    fingerprint = signing_key.fingerprint
    signed = {"verified": True, "signers": [fingerprint], "signed_by": fingerprint, "reason": f"signed by {fingerprint}"}
    for found in (shown["refs"][0]["signature"], shown["summary_signature"]):
        valid_until = found.pop("valid_until")
        assert found == signed
        assert datetime.fromisoformat(valid_until) > datetime.now(UTC)   # the key expires in a year


def test_without_a_trusted_key_nothing_is_verified_and_the_signers_are_still_named(ostree_repo, served, signing_key,
                                                                                   capsys):
    ostree_repo.commit(X86, "41.1")
    ostree_repo.update_summary()

    assert main(["repo", "show", served.url, "--ref", X86, "--output", "json"]) == 0

    shown = json.loads(capsys.readouterr().out)
    for signature in (shown["signature"], shown["commit"]["signature"], shown["summary_signature"]):
        assert (signature["verified"], signature["signers"]) == (False, [signing_key.fingerprint])
        assert signature["reason"].startswith("no trusted key was given; ")


def test_the_table_says_who_signed_each_ref_and_why_the_others_are_not(ostree_repo, served, key_file, signing_key,
                                                                       other_key, tmp_path, capsys):
    ostree_repo.commit(X86, "41.1")
    ostree_repo.commit(ARM, "41.1", signed=False)
    other = ostree_repo.commit("fedora/x86_64/coreos/next", "41.1", signed=False)
    ostree_repo.sign(other, other_key)
    ostree_repo.update_summary(signed=False)

    assert main(["repo", "show", served.url, "--trusted-key", key_file]) == 0

    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert out.startswith("REF ") and out.splitlines()[0].endswith("  SIGNATURE")
    assert "summary.sig" not in out   # the repository publishes none
    assert rows[X86].endswith(f"  signed by {signing_key.fingerprint}")
    assert rows[ARM].endswith("  unsigned: the commit has no detached metadata: it is not signed")
    assert rows["fedora/x86_64/coreos/next"].endswith(
        f"  not verified: signature 1 is by {other_key.fingerprint}, which is not trusted")


def test_one_ref_shows_its_signature_its_signers_and_the_summarys(ostree_repo, served, signing_key, other_key,
                                                                  tmp_path, capsys):
    checksum = ostree_repo.commit(X86, "41.1")
    ostree_repo.sign(checksum, other_key)
    ostree_repo.update_summary()
    binary = tmp_path / "signing-key.gpg"   # as `gpg --export` writes it, without armor
    binary.write_bytes(subprocess.run(["gpg", "--homedir", str(signing_key.homedir), "--export",
                                       signing_key.fingerprint], capture_output=True, check=True).stdout)

    assert main(["repo", "show", served.url, "--ref", X86, "--trusted-key", str(binary)]) == 0

    out = capsys.readouterr().out
    assert f"  signature  signed by {signing_key.fingerprint}\n" in out
    assert f"  signers    {signing_key.fingerprint}, {other_key.fingerprint}\n" in out
    assert f"  summary    signed by {signing_key.fingerprint}\n" in out


@pytest.mark.parametrize("content, complaint", [
    (None, "No such file or directory"),
    ("not a key\n", "does not parse as an OpenPGP public key"),
])
def test_a_trusted_key_file_that_holds_no_usable_key_is_a_one_line_error_naming_it(
        ostree_repo, served, tmp_path, capsys, content, complaint):
    ostree_repo.commit(X86, "41.1")
    ostree_repo.update_summary()
    path = tmp_path / "key.asc"
    if content is not None:
        path.write_text(content)

    assert main(["repo", "show", served.url, "--trusted-key", str(path)]) == 2

    captured = capsys.readouterr()
    assert captured.out == ""
    [line] = captured.err.splitlines()
    assert line.startswith(f"atomic-release: --trusted-key {path}: ") and complaint in line
