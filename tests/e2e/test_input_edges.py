"""The input edges under hostile or unlucky input: the webhook, the API and the EventBridge
events refuse what they cannot read unambiguously, answer within bounds, say why in ``error``,
answer a redelivery with its first answer, and take a rotated secret at once."""

import base64
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from chalice.test import Client

from atomic_release.local.api_server import LISTEN_BACKLOG, ServedApp
from chalicelib.api.http import MAX_REASON_CHARS
from chalicelib.aws.clients import client
from chalicelib.triggers import detect, events, webhook
from tests.conftest import DEVELOPER_REFS
from tests.e2e.conftest import executions
from tests.webhook_requests import announcement, signed

pytestmark = pytest.mark.e2e
ROOT = str(Path(__file__).resolve().parents[2])
HOOK = "/hooks/ostree"


def hook(chalice: Client, raw: bytes, delivery: str):
    return chalice.http.post(HOOK, **signed(raw, delivery))


# -- duplicate keys ------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "key"), [
    (b'{"stream": "nope", "stream": "developer", "commits": {}}', "stream"),
    (b'{"stream": "developer", "commits": {"x86_64": {"ref": "a", "ref": "b", "checksum": "' + b"a" * 64 + b'"}}}',
     "ref"),
    (b'{"stream": "developer", "commits": {"x86_64": {}, "x86_64": {}}}', "x86_64"),
])
def test_the_webhook_refuses_a_key_named_twice_naming_it(runtime, api, raw, key):
    answer = hook(api, raw, "d-dup")

    assert answer.status_code == 400
    assert answer.json_body["error"] == f"body: duplicate key {key!r}"
    assert executions() == []


def test_the_api_refuses_a_key_named_twice_naming_it(runtime, api):
    answer = api.http.post("/releases", headers={"Content-Type": "application/json"},
                           body='{"stream": "nope", "stream": "developer"}')

    assert (answer.status_code, answer.json_body) == (400, {"error": "body: duplicate key 'stream'"})
    assert executions() == []


# -- one architecture named twice ----------------------------------------------------------------

@pytest.mark.parametrize("order", [("arm64", "aarch64"), ("aarch64", "arm64")])
def test_one_architecture_named_twice_is_refused_in_either_order_naming_both(released, order):
    checksums, _, chalice = released
    commits = {name: {"ref": DEVELOPER_REFS["arm64"], "checksum": checksum}
               for name, checksum in zip(order, (checksums["arm64"], "b" * 64), strict=True)}

    answer = chalice.http.post(HOOK, **signed({"stream": "developer", "commits": commits}, "d-twice"))

    assert answer.status_code == 400
    assert f"{order[0]!r} and {order[1]!r} both name architecture arm64" in answer.json_body["error"]
    assert executions() == []


# -- bounded answers ---------------------------------------------------------------------------------

def test_a_body_of_200k_unknown_keys_gets_a_short_400(runtime, api):
    raw = json.dumps({"stream": "developer", "commits": {"x86_64": {"ref": "r", "checksum": "a" * 64}},
                      **{f"unknown-{n}": n for n in range(200_000)}}).encode()
    assert len(raw) > 2_000_000

    answer = hook(api, raw, "d-big")

    assert answer.status_code == 400
    assert len(answer.body) < 2 * MAX_REASON_CHARS
    assert answer.json_body["error"].startswith("body: unknown-0: Extra inputs are not permitted")
    assert "more characters cut" in answer.json_body["error"] or "more problems" in answer.json_body["error"]


def test_a_long_unknown_stream_name_is_not_echoed_whole(runtime, api):
    answer = api.http.post("/releases", headers={"Content-Type": "application/json"},
                           body=json.dumps({"stream": "x" * 100_000}))

    assert answer.status_code == 400
    assert len(answer.json_body["error"]) <= MAX_REASON_CHARS + 60
    assert answer.json_body["error"].endswith("more characters cut)")


# -- every error carries `error` -----------------------------------------------------------------

def test_every_error_answer_says_why_in_error(released):
    checksums, runtime, chalice = released
    first = chalice.http.post(HOOK, **signed(announcement(checksums), "d-first"))
    assert runtime.wait(first.json_body["execution_arn"]).status == "SUCCEEDED"

    unsigned = signed(announcement(checksums), "d-x")
    unsigned["headers"].pop(webhook.SIGNATURE_HEADER)
    answers = {
        "already released (409)": chalice.http.post(HOOK, **signed(announcement(checksums), "d-again")),
        "missing signature (401)": chalice.http.post(HOOK, **unsigned),
        "stale (401)": chalice.http.post(HOOK, **signed(announcement(checksums), "d-old", int(time.time()) - 600)),
        "not JSON (400)": chalice.http.post(HOOK, **signed(b"[", "d-json")),
        "unknown stream (422)": chalice.http.post(HOOK, **signed(announcement(checksums, "nightly"), "d-nightly")),
        "same id, other body (422)": chalice.http.post(HOOK, **signed(announcement({"x86_64": "c" * 64}), "d-first")),
        "API bad body (400)": chalice.http.post("/releases", headers={"Content-Type": "application/json"}, body="[]"),
        "API unknown release (404)": chalice.http.get("/releases/developer-0-000000000000"),
        "API retry unknown (404)": chalice.http.post("/releases/developer-0-000000000000/retry"),
        "API abort unknown (404)": chalice.http.post("/releases/developer-0-000000000000/abort"),
        "unknown asset (404)": chalice.http.get("/assets/nothing.js"),
        "another content type (415)": chalice.http.post(HOOK, headers={"Content-Type": "text/plain" + "x" * 5000},
                                                         body=b"{}"),
        "another method (405)": chalice.http.request("PUT", HOOK, headers={"Content-Type": "application/json"},
                                                     body=b"{}"),
    }

    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert all(status >= 400 for status in statuses.values()), statuses
    assert statuses["already released (409)"] == 409
    lacking = [name for name, answer in answers.items() if not answer.json_body.get("error")]
    assert lacking == []
    assert answers["another content type (415)"].json_body["error"].endswith("more characters cut)")


# -- redeliveries ----------------------------------------------------------------------------------

def test_a_redelivery_with_another_body_is_refused(released):
    checksums, _, chalice = released
    chalice.http.post(HOOK, **signed(announcement(checksums), "d-1"))

    other = chalice.http.post(HOOK, **signed(announcement(checksums, "nightly"), "d-1"))

    assert other.status_code == 422
    assert "d-1 was received before with another body" in other.json_body["error"]


def test_a_copy_arriving_while_the_first_is_answered_gets_409_then_the_first_answer(released, monkeypatch):
    checksums, _, _ = released
    entered, go_on = threading.Event(), threading.Event()
    consider = detect.consider

    def slow_consider(*args, **kwargs):
        entered.set()
        go_on.wait(30)
        return consider(*args, **kwargs)

    monkeypatch.setattr(detect, "consider", slow_consider)
    request = signed(announcement(checksums), "d-1")

    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(webhook.handle, request["headers"], request["body"])
        assert entered.wait(30)
        during = webhook.handle(request["headers"], request["body"])
        go_on.set()
        answered = first.result(timeout=60)
    after = webhook.handle(request["headers"], request["body"])

    assert during.status == 409
    assert "d-1 is being answered now" in during.body["error"]
    assert (answered.status, answered.body["outcome"]) == (202, "started")
    assert after == answered
    assert len(executions()) == 1


# -- Standard Webhooks -------------------------------------------------------------------------------

def test_signatures_are_standard_webhooks_ones():
    # The specification's published test vector: any of its libraries signs as this one does.
    assert webhook.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                        b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def rotate(runtime, new_secret: str) -> None:
    client("ssm").put_parameter(Name=runtime_parameter(), Value=new_secret, Type="SecureString", Overwrite=True)


def runtime_parameter() -> str:
    from chalicelib.core.settings import settings

    name = settings().webhook_secret_parameter
    assert name is not None
    return name


NEW_SECRET = "whsec_" + base64.b64encode(b"the secret after the rotation!!").decode()


def test_during_a_rotation_a_delivery_signed_with_old_and_new_secrets_is_accepted(released):
    checksums, runtime, chalice = released
    rotate(runtime, NEW_SECRET)

    answer = chalice.http.post(HOOK, **signed(announcement(checksums), "d-1", secret="whsec_" + base64.b64encode(
        b"a secret nobody has any more").decode(), also_signed_with=(NEW_SECRET,)))

    assert answer.status_code == 202


def test_the_secret_is_cached_and_read_again_when_a_signature_does_not_match(released):
    checksums, runtime, chalice = released
    warm = chalice.http.post(HOOK, **signed(announcement({"x86_64": "c" * 64}, "nightly"), "d-warm"))
    assert warm.status_code == 422  # signed right, the secret is now cached
    rotate(runtime, NEW_SECRET)

    cached = chalice.http.post(HOOK, **signed(announcement({"x86_64": "c" * 64}, "nightly"), "d-cached"))
    rotated = chalice.http.post(HOOK, **signed(announcement(checksums), "d-rotated", secret=NEW_SECRET))
    old = chalice.http.post(HOOK, **signed(announcement(checksums), "d-old-secret"))

    assert cached.status_code == 422  # the old secret still works from the cache: no read per delivery
    assert rotated.status_code == 202  # the new secret works at once: the mismatch read it again
    assert (old.status_code, old.json_body["error"]) == (401, "signature does not match the body")


# -- the EventBridge path ----------------------------------------------------------------------------

def pungi(chalice: Client, commitid: str, detail_type: str = events.PUNGI_OSTREE) -> dict:
    return chalice.events.generate_cw_event(
        source=events.SOURCE, detail_type=detail_type, resources=[],
        detail={"ref": DEVELOPER_REFS["x86_64"], "commitid": commitid, "arch": "x86_64"})


@pytest.mark.parametrize("commitid", ["Z" * 64, "A" * 64, "a" * 63 + "\n"])
def test_an_event_whose_commitid_is_no_checksum_is_dropped(runtime, api, commitid):
    handled = events.on_pungi_ostree(pungi(api, commitid))

    assert handled.outcome == "dropped"
    assert "detail.commitid: String should match pattern" in handled.reason


def test_an_event_of_another_detail_type_is_dropped_by_the_handler(runtime, api):
    handled = events.on_pungi_ostree(pungi(api, "a" * 64, events.COREOS_BUILD_STATE))

    assert handled.outcome == "dropped"
    assert "detail-type: Input should be 'org.fedoraproject.prod.pungi.compose.ostree'" in handled.reason


# -- the local server ----------------------------------------------------------------------------------

def test_the_local_server_takes_a_burst_of_signed_deliveries_without_a_reset(runtime):
    deliveries = [signed(announcement({"x86_64": f"{n:064x}"}, "nightly"), f"d-burst-{n}") for n in range(40)]
    start = threading.Barrier(len(deliveries))

    with ServedApp() as served:
        assert served._server.request_queue_size >= LISTEN_BACKLOG >= 128

        def deliver(request: dict) -> int:
            start.wait()
            return requests.post(served.url + HOOK, data=request["body"], headers=request["headers"],
                                 timeout=60).status_code

        with ThreadPoolExecutor(len(deliveries)) as pool:
            statuses = list(pool.map(deliver, deliveries))

    assert statuses == [422] * len(deliveries)


def test_the_documented_sender_is_answered(released):
    checksums, runtime, _ = released
    document = (Path(ROOT) / "docs" / "cli-and-api.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", document.split("## The webhook", 1)[1], re.DOTALL)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the documentation's own example, run as a sender would

    with ServedApp() as served:
        status = namespace["deliver"](served.url, runtime.webhook_secret, announcement(checksums))

    assert status == 202
    (execution,) = executions()
    runtime.wait(execution["executionArn"])
