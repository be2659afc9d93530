"""Signature checks of commits and summaries in repositories the real tools made: keys from
Debian's gpg, commits signed by ``ostree commit --gpg-sign`` and ``ostree gpg-sign``, read over
HTTP on 127.0.0.1 as the poller reads them."""

import contextlib
import json
import re
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pysequoia import Cert, Sig, verify

from atomic_release.local.ostree_repo import OstreeRepo
from atomic_release.local.signing import SigningKey, generate_key, gpg_cli, temporary_key
from chalicelib.core.config import DEFAULT_CONFIG, load_streams
from chalicelib.core.errors import ConfigError, UnreadableSignatures
from chalicelib.core.trusted_keys import Trust
from chalicelib.ostree.repository import Repository
from chalicelib.ostree.signatures import check, detached_signatures
from tests.conftest import require_gpg_cli, require_ostree_cli
from tests.detached_metadata import SIGNATURES_KEY, detached_metadata, signed_with
from tests.fuzzing import mutated

REF = "fedora/x86_64/coreos/stable"
_FINGERPRINT_LINE = re.compile(r"^\s+((?:[0-9A-F]{4}\s+){9}[0-9A-F]{4})$", re.MULTILINE)


def gpg(homedir: Path, *args: str, answers: str | None = None) -> str:
    """Run gpg in ``homedir``; ``answers``: what an operator would type to its prompts."""
    mode = ["--no-tty", "--yes", "--command-fd", "0"] if answers is not None else ["--batch"]
    result = subprocess.run([gpg_cli(), "--homedir", str(homedir), *mode, "--pinentry-mode", "loopback",
                             "--passphrase", "", *args], input=answers, capture_output=True, text=True,
                            check=False, timeout=60)
    assert result.returncode == 0, f"gpg {' '.join(args)}: {result.stderr}"
    return result.stdout


def shown_fingerprint(key: SigningKey) -> str:
    """The primary key's fingerprint as ``gpg --fingerprint`` shows it, without its spaces."""
    shown = _FINGERPRINT_LINE.search(gpg(key.homedir, "--fingerprint", key.fingerprint))
    assert shown, "gpg --fingerprint showed no fingerprint"
    return shown.group(1).replace(" ", "")


def certifying_key(homedir: Path, name: str, subkey: tuple[str, str] | None = None, subkey_expires: str = "1y",
                   faked_time: str | None = None) -> SigningKey:
    """A primary key that may only certify, with one subkey (algorithm, usage: sign, encr) if
    given; ``faked_time`` as generate_key's."""
    homedir.mkdir(mode=0o700, parents=True)
    if faked_time:
        (homedir / "gpg.conf").write_text(f"faked-system-time {faked_time}\n")
    gpg(homedir, "--quick-gen-key", f"{name} <{name}@example.invalid>", "ed25519", "cert", "never")
    fingerprint = re.search(r"^fpr:(?:[^:]*:){8}([0-9A-F]+):", gpg(homedir, "--list-keys", "--with-colons"),
                            re.MULTILINE).group(1)
    if subkey:
        gpg(homedir, "--quick-add-key", fingerprint, *subkey, subkey_expires)
    return SigningKey(homedir=homedir, fingerprint=fingerprint)


def revoked_public(key: SigningKey) -> str:
    """The key's public key after ``gpg --gen-revoke`` and the import of that revocation."""
    # answers: really revoke, reason 0 (none given), no description, confirm
    revocation = gpg(key.homedir, "--armor", "--gen-revoke", key.fingerprint, answers="y\n0\n\ny\n")
    gpg(key.homedir, "--import", input_file(key.homedir, "revocation.asc", revocation))
    return gpg(key.homedir, "--armor", "--export", key.fingerprint)


def ostree_verdict(repo: OstreeRepo, checksum: str, public: str) -> str:
    """What ostree itself (gpg, through gpgme) says of the commit's signatures, trusting ``public``."""
    remote = f"trusting{len(list(repo.path.glob('*.asc')))}"
    keyring = input_file(repo.path, f"{remote}.asc", public)
    subprocess.run([require_ostree_cli(), f"--repo={repo.path}", "remote", "add", f"--gpg-import={keyring}", remote,
                    "http://127.0.0.1:9/"], check=True, capture_output=True, timeout=60)
    shown = subprocess.run([require_ostree_cli(), f"--repo={repo.path}", "show", f"--gpg-verify-remote={remote}",
                            checksum], check=True, capture_output=True, text=True, timeout=60)
    return shown.stdout


def input_file(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def scratch_keys(tmp_path_factory):
    """Makes keys in GnuPG homes of their own (short paths: gpg's sockets live there), and stops
    their agents after the test."""
    require_gpg_cli()
    made: list[SigningKey] = []
    scratch = Path(tmp_path_factory.mktemp("g", numbered=True))

    def make(maker, *args, **options) -> SigningKey:
        key = maker(scratch / str(len(made)), *args, **options)
        made.append(key)
        return key

    yield make
    for key in made:
        key.close()


def trusting(*keys: SigningKey | str) -> Trust:
    return Trust.of([key if isinstance(key, str) else key.public for key in keys])


def read(served, trust: Trust, checksum: str):
    return Repository(served.url, trust=trust).signature(checksum)


def replace_commitmeta(repo: OstreeRepo, checksum: str, data: bytes) -> None:
    path = repo.object_path(checksum, "commitmeta")
    with contextlib.suppress(FileNotFoundError):
        path.chmod(0o644)
    path.write_bytes(data)


def test_the_tests_metadata_writer_writes_what_ostree_writes(ostree_repo, other_key):
    checksum = ostree_repo.commit(REF, "41.1")
    ostree_repo.sign(checksum, other_key)
    written = ostree_repo.object_path(checksum, "commitmeta").read_bytes()

    assert signed_with(detached_signatures(written)) == written


def test_a_good_signature_is_verified_and_names_the_key_as_gpg_shows_it(ostree_repo, served, signing_key):
    checksum = ostree_repo.commit(REF, "41.1")

    found = read(served, trusting(signing_key), checksum)

    fingerprint = shown_fingerprint(signing_key)
    assert found.verified
    assert found.signed_by == fingerprint and found.signers == [fingerprint]
    assert found.reason == f"signed by {fingerprint}"


def test_a_time_without_a_zone_is_taken_as_utc(ostree_repo):
    with temporary_key(name="expires soon", expires="2d") as key:
        checksum = ostree_repo.commit(REF, "41.1", signed=False)
        ostree_repo.sign(checksum, key)
        signed, metadata = (ostree_repo.object_path(checksum, kind).read_bytes() for kind in ("commit", "commitmeta"))
        expires = check(signed, metadata, trusting(key)).valid_until

        before = check(signed, metadata, trusting(key), now=(expires - timedelta(minutes=1)).replace(tzinfo=None))
        after = check(signed, metadata, trusting(key), now=(expires + timedelta(minutes=1)).replace(tzinfo=None))

    assert (before.verified, after.verified) == (True, False)
    assert "expired on" in after.reason


@pytest.mark.parametrize("trusted_first", [False, True], ids=["untrusted-then-trusted", "trusted-then-untrusted"])
def test_one_trusted_signature_among_two_is_enough(ostree_repo, served, signing_key, other_key, trusted_first):
    order = [signing_key, other_key] if trusted_first else [other_key, signing_key]
    checksum = ostree_repo.commit(REF, "41.1", signed=False)
    for key in order:
        ostree_repo.sign(checksum, key)

    found = read(served, trusting(signing_key), checksum)

    assert found.verified
    assert found.signed_by == signing_key.fingerprint
    assert found.signers == [key.fingerprint for key in order]
    assert found.reason == f"signed by {signing_key.fingerprint}"


def test_a_signature_by_an_untrusted_key_is_refused_naming_that_key(ostree_repo, served, signing_key, other_key):
    checksum = ostree_repo.commit(REF, "41.1", signed=False)
    ostree_repo.sign(checksum, other_key)

    found = read(served, trusting(signing_key), checksum)

    assert not found.verified and found.signed_by is None
    assert found.signers == [other_key.fingerprint]
    assert found.reason == f"signature 1 is by {other_key.fingerprint}, which is not trusted"


def test_without_trusted_keys_nothing_is_verified_but_the_signers_are_listed(ostree_repo, served, signing_key):
    checksum = ostree_repo.commit(REF, "41.1")

    found = read(served, Trust(), checksum)

    assert not found.verified and found.signers == [signing_key.fingerprint]
    assert found.reason == f"no trusted key was given; signature 1 is by {signing_key.fingerprint}, which is not trusted"


def test_a_signing_subkey_signs_for_its_primary_key(ostree_repo, served, scratch_keys):
    key = scratch_keys(certifying_key, "subkeyed", ("ed25519", "sign"))
    checksum = ostree_repo.commit(REF, "41.1", signed=False)
    ostree_repo.sign(checksum, key)
    issuer = Sig.from_bytes(detached_signatures(ostree_repo.object_path(checksum, "commitmeta").read_bytes())[0])

    found = read(served, trusting(key), checksum)

    assert issuer.issuer_fingerprint.upper() != key.fingerprint   # the subkey made it
    assert found.verified
    assert found.signed_by == shown_fingerprint(key) == key.fingerprint
    assert found.signers == [key.fingerprint]


def test_a_key_that_expired_after_signing_is_refused_though_sequoia_accepts_it(ostree_repo, served, scratch_keys):
    # made and used on 2024-01-01 (gpg's faked system time), expired the next day
    key = scratch_keys(generate_key, name="expired signer", expires="1d", faked_time="20240101T000000")
    checksum = ostree_repo.commit(REF, "41.1", signed=False)
    ostree_repo.sign(checksum, key)
    metadata = ostree_repo.object_path(checksum, "commitmeta").read_bytes()
    signature = Sig.from_bytes(detached_signatures(metadata)[0])
    cert = Cert.from_bytes(key.public.encode())

    found = read(served, trusting(key), checksum)

    assert signature.created.year == 2024
    assert "BAD signature" in ostree_verdict(ostree_repo, checksum, key.public)
    accepted = verify(bytes=ostree_repo.object_path(checksum).read_bytes(), store=lambda _ids: [cert],
                      signature=signature)
    assert [valid.certificate.upper() for valid in accepted.valid_sigs] == [key.fingerprint]
    assert not found.verified and found.signers == [key.fingerprint]
    assert found.reason == f"signature 1 is by trusted key {key.fingerprint}, which expired on 2024-01-02"


def test_a_signing_subkey_that_expired_after_signing_is_refused(ostree_repo, served, scratch_keys):
    key = scratch_keys(certifying_key, "subkey expired", ("ed25519", "sign"), subkey_expires="1d",
                       faked_time="20240101T000000")
    checksum = ostree_repo.commit(REF, "41.1", signed=False)
    ostree_repo.sign(checksum, key)
    subkey = Sig.from_bytes(detached_signatures(ostree_repo.object_path(checksum, "commitmeta").read_bytes())[0])

    found = read(served, trusting(key), checksum)

    assert not found.verified and found.signers == [key.fingerprint]
    assert found.reason == (f"signature 1 is by trusted key {key.fingerprint}, whose signing subkey "
                            f"{subkey.issuer_fingerprint.upper()} expired on 2024-01-02")


def test_a_signature_older_than_an_extended_keys_self_signature_is_refused_saying_why(ostree_repo, served, scratch_keys):
    key = scratch_keys(generate_key, name="extended", expires="1d", faked_time="20240101T000000")
    checksum = ostree_repo.commit(REF, "41.1", signed=False)
    ostree_repo.sign(checksum, key)
    expired = key.public
    (key.homedir / "gpg.conf").unlink()   # back to today, to extend it
    gpg(key.homedir, "--quick-set-expire", key.fingerprint, "1y")

    extended = gpg(key.homedir, "--armor", "--export", key.fingerprint)

    refused = read(served, trusting(expired), checksum)
    found = read(served, trusting(extended), checksum)

    assert refused.reason.endswith("which expired on 2024-01-02")
    assert "Good signature" in ostree_verdict(ostree_repo, checksum, extended)
    # gpg replaced the key's only self-signature: Sequoia, judging the key as it was on 2024-01-01,
    # finds none then and cannot check the signature; the reason says so, not "does not match"
    assert not found.verified and found.signers == [key.fingerprint]
    assert found.reason == (f"signature 1 by trusted key {key.fingerprint} cannot be checked: it was made on "
                            f"2024-01-01, before the key's earliest self-signature ({datetime.now(UTC):%Y-%m-%d}) in the "
                            "trusted copy; trust a copy that keeps the key's older self-signatures, or sign again")


def certified_by(key: SigningKey, certifier: SigningKey) -> str:
    """``key``'s public key with ``certifier``'s certification of its user ID, as a key signed by
    others (a distribution key signed by its developers) is published."""
    gpg(certifier.homedir, "--import", input_file(certifier.homedir, "certified.asc", key.public))
    gpg(certifier.homedir, "--quick-sign-key", key.fingerprint)
    return gpg(certifier.homedir, "--armor", "--export", key.fingerprint)


def test_a_key_certified_by_another_keeps_its_own_usage_and_expiry(ostree_repo, served, signing_key, scratch_keys):
    # the expired key signed on 2024-01-01; the other key certified it later that day, with no
    # expiry and no key flags of its own: only the key's self-signatures say what it may do
    expired = scratch_keys(generate_key, name="certified expired", expires="1d", faked_time="20240101T000000")
    certifier_then = scratch_keys(generate_key, name="certifier", expires="never", faked_time="20240101T120000")
    certifier_now = scratch_keys(generate_key, name="certifier", expires="never")
    current, expiring = ostree_repo.commit(REF, "41.1"), ostree_repo.commit(REF, "41.2", signed=False)
    ostree_repo.sign(expiring, expired)

    found = read(served, trusting(certified_by(signing_key, certifier_now)), current)
    refused = read(served, trusting(certified_by(expired, certifier_then)), expiring)

    assert found.verified and found.signed_by == signing_key.fingerprint
    assert refused.reason == f"signature 1 is by trusted key {expired.fingerprint}, which expired on 2024-01-02"


def test_a_key_revoked_after_signing_is_refused(ostree_repo, served, scratch_keys):
    key = scratch_keys(generate_key, name="revoked signer")
    checksum = ostree_repo.commit(REF, "41.1", signed=False)
    ostree_repo.sign(checksum, key)
    before = read(served, trusting(key), checksum)

    found = read(served, trusting(revoked_public(key)), checksum)

    assert before.verified
    assert not found.verified and found.signers == [key.fingerprint]
    assert found.reason == f"signature 1 is by trusted key {key.fingerprint}, which is revoked"


def test_a_signature_moved_from_another_commit_is_refused(ostree_repo, served, signing_key):
    first = ostree_repo.commit(REF, "41.1")
    second = ostree_repo.commit(REF, "41.2", files={"etc/motd": "second\n"})
    replace_commitmeta(ostree_repo, second, ostree_repo.object_path(first, "commitmeta").read_bytes())

    found = read(served, trusting(signing_key), second)

    assert read(served, trusting(signing_key), first).verified
    assert not found.verified and found.signers == [signing_key.fingerprint]
    assert found.reason == f"signature 1 by trusted key {signing_key.fingerprint} does not match the commit's bytes"


def test_an_unsigned_commit_is_refused(ostree_repo, served, signing_key):
    checksum = ostree_repo.commit(REF, "41.1", signed=False)

    found = read(served, trusting(signing_key), checksum)

    assert not ostree_repo.object_path(checksum, "commitmeta").exists()
    assert not found.verified and found.signers == []
    assert found.reason == "the commit has no detached metadata: it is not signed"


def _cut_signature(metadata: bytes) -> bytes:
    signature = detached_signatures(metadata)[0]
    return signed_with([signature[:len(signature) // 2]])


# what the server answers for the commit's .commitmeta, made from the real one; the reason's start
UNREADABLE = [
    ("garbage", lambda _real: b"<html><body>Not Found</body></html>\n", "the detached metadata does not parse ("),
    ("truncated-in-its-key", lambda real: real[:15], "the detached metadata does not parse ("),
    ("truncated-by-a-byte", lambda real: real[:-1], "the detached metadata does not parse ("),
    ("signature-truncated", _cut_signature, "signature 1 does not parse"),
    ("no-signatures-key", lambda _real: detached_metadata({"ostree.note": "no signature here"}),
     f"the detached metadata has no {SIGNATURES_KEY}"),
    ("empty-signature-list", lambda _real: signed_with([]), f"the detached metadata's {SIGNATURES_KEY} is empty"),
    ("not-a-list-of-byte-strings", lambda real: detached_metadata({SIGNATURES_KEY: real}),
     f"the detached metadata's {SIGNATURES_KEY} is not a list of byte strings (aay)"),
]


@pytest.mark.parametrize(("damage", "reason"), [case[1:] for case in UNREADABLE], ids=[case[0] for case in UNREADABLE])
def test_unreadable_detached_metadata_is_refused_with_its_own_reason(ostree_repo, served, signing_key, damage, reason):
    checksum = ostree_repo.commit(REF, "41.1")
    replace_commitmeta(ostree_repo, checksum, damage(ostree_repo.object_path(checksum, "commitmeta").read_bytes()))

    found = read(served, trusting(signing_key), checksum)

    assert not found.verified and found.signed_by is None
    assert found.reason.startswith(reason), found.reason


def test_a_signed_summary_is_verified(ostree_repo, served, signing_key):
    ostree_repo.commit(REF, "41.1")
    ostree_repo.update_summary()

    summary = Repository(served.url, trust=trusting(signing_key)).summary()

    assert (ostree_repo.path / "summary.sig").exists()
    assert summary.signature.verified and summary.signature.signed_by == shown_fingerprint(signing_key)


def test_a_summary_sig_over_an_older_summary_is_refused(ostree_repo, served, signing_key):
    ostree_repo.commit(REF, "41.1")
    ostree_repo.update_summary()
    stale = (ostree_repo.path / "summary.sig").read_bytes()
    ostree_repo.commit(REF, "41.2", files={"etc/motd": "newer\n"})
    ostree_repo.update_summary()
    (ostree_repo.path / "summary.sig").write_bytes(stale)

    summary = Repository(served.url, trust=trusting(signing_key)).summary()

    assert REF in summary.refs
    assert not summary.signature.verified and summary.signature.signers == [signing_key.fingerprint]
    assert summary.signature.reason == (f"signature 1 by trusted key {signing_key.fingerprint} does not match "
                                        "the summary's bytes")


def test_a_repository_without_summary_sig_has_no_summary_signature(ostree_repo, served, signing_key):
    ostree_repo.commit(REF, "41.1")
    ostree_repo.update_summary(signed=False)

    summary = Repository(served.url, trust=trusting(signing_key)).summary()

    assert not (ostree_repo.path / "summary.sig").exists()
    assert REF in summary.refs and summary.signature is None


def load_with_keys(directory: Path, keys: list[str]) -> None:
    raw = json.loads(DEFAULT_CONFIG.read_text())
    raw["streams"]["developer"]["signatures"] = {"required": True, "keys": keys}
    path = directory / "streams.json"
    path.write_text(json.dumps(raw))
    load_streams(path)


def _secret(key: SigningKey) -> str:
    return gpg(key.homedir, "--armor", "--export-secret-keys", key.fingerprint)


def _encryption_only(key: SigningKey, keys) -> str:
    return keys(certifying_key, "encrypts", ("cv25519", "encr")).public


def _certification_only(key: SigningKey, keys) -> str:
    return keys(certifying_key, "certifies").public


def _two_keys(key: SigningKey, keys) -> str:
    return key.public + keys(generate_key, name="second key").public


@pytest.mark.parametrize(("make", "reason"), [
    (lambda key, _keys: _secret(key), r"keys\[1\] is a secret key: give the public key only"),
    (_encryption_only, r"keys\[1\] key [0-9A-F]{40} has no key that may sign"),
    (_certification_only, r"keys\[1\] key [0-9A-F]{40} has no key that may sign"),
    (_two_keys, r"keys\[1\] holds 2 keys: give one key per entry"),
], ids=["secret-key", "encryption-subkey-only", "certification-only", "two-keys-in-one-entry"])
def test_a_key_that_cannot_be_trusted_is_refused_at_load_naming_stream_and_key(tmp_path, scratch_keys, make, reason):
    good = scratch_keys(generate_key, name="good key")
    bad = make(good, scratch_keys)

    with pytest.raises(ConfigError) as refused:
        load_with_keys(tmp_path, [good.public, bad])

    assert re.match(rf"streams.json: streams\.developer\.signatures: Value error, {reason}$", str(refused.value)), \
        str(refused.value)


@pytest.fixture(scope="module")
def real_commit(tmp_path_factory, signing_key):
    """(commit bytes, its .commitmeta) made and signed by the real tools once for the fuzzing."""
    require_ostree_cli()
    repo = OstreeRepo(tmp_path_factory.mktemp("fuzzed") / "repo", signing_key)
    checksum = repo.commit(REF, "41.1")
    return repo.object_path(checksum).read_bytes(), repo.object_path(checksum, "commitmeta").read_bytes()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mutated_commitmeta_is_read_or_refused_and_never_verifies_another_signer(real_commit, signing_key, other_key,
                                                                                    data):
    commit, metadata = real_commit
    damaged = data.draw(mutated(metadata))

    try:
        signatures = detached_signatures(damaged)
    except UnreadableSignatures:
        signatures = None
    found = check(commit, damaged, trusting(signing_key, other_key))

    assert signatures is None or all(isinstance(s, bytes) for s in signatures)
    assert found.signed_by in (None, signing_key.fingerprint)   # the other trusted key signed nothing
    assert found.verified == (found.signed_by is not None)


def test_a_commits_signature_costs_its_commitmeta_once_the_commit_was_read(ostree_repo, served, signing_key):
    checksum = ostree_repo.commit(REF, "41.1")
    commitmeta = ostree_repo.object_path(checksum, "commitmeta").stat().st_size
    reader = Repository(served.url, trust=trusting(signing_key))
    reader.commit(checksum)
    before = (served.traffic.requests, served.traffic.body_bytes)

    found = reader.signature(checksum)

    assert found.verified
    assert (served.traffic.requests - before[0], served.traffic.body_bytes - before[1]) == (1, commitmeta)


def test_a_summary_costs_summary_sig_beside_it_and_nothing_more_when_unchanged(ostree_repo, served, signing_key):
    ostree_repo.commit(REF, "41.1")
    ostree_repo.update_summary()
    reader = Repository(served.url, trust=trusting(signing_key))

    first = reader.summary()
    after_first = served.traffic.requests
    again = reader.summary(etag=first.etag, last_modified=first.last_modified)

    assert first.signature.verified and after_first == 2
    assert again.not_modified and served.traffic.requests - after_first == 1
