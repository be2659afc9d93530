"""Shared setup for the integration tests: one task Lambda at a time, against moto.

The ``runtime`` fixture (tests/conftest.py) provides the account; these fixtures put in it what
an earlier task of the release would have left there."""

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pysequoia import Tsk

from chalicelib.aws.clients import client
from chalicelib.core.config import DEFAULT_CONFIG
from functions import copy_to_region, prepare, register_image
from tests.integration.support import (
    ARCHES,
    ARTIFACT_SIGNING_SECRET,
    BASE,
    COPY,
    EXECUTION_ARN,
    STREAM,
    arch_task,
    builder_report,
    builder_volume,
    invoke,
    keep_signing_key,
    region_task,
    release_input,
)


def pytest_collection_modifyitems(items):
    """A handler whose task raises adds no metric, and powertools warns about that: not news here."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.filterwarnings("ignore:No application metrics to publish"))


@pytest.fixture
def prepared(runtime) -> dict:
    """The release record, claimed by prepare for EXECUTION_ARN, over the base and one copy region."""
    return invoke(prepare, {"release": release_input(regions=[BASE, COPY]), "execution_arn": EXECUTION_ARN})


@pytest.fixture
def built(runtime) -> dict[str, dict]:
    """Each architecture's image registered in the base region, as register_image returns it."""
    return {arch: invoke(register_image, arch_task(arch, builder=builder_report(arch, builder_volume(arch))))
            for arch in ARCHES}


@pytest.fixture
def copied(built) -> dict:
    """The images copied to COPY, as copy_to_region returns the region."""
    return invoke(copy_to_region, region_task(COPY, list(built.values())))


@pytest.fixture
def release_queue(runtime) -> str:
    """An SQS queue subscribed to the release topic; returns its URL."""
    sqs = client("sqs")
    url = sqs.create_queue(QueueName="release-subscriber")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    client("sns").subscribe(TopicArn=os.environ["RELEASE_TOPIC_ARN"], Protocol="sqs", Endpoint=arn)
    return url


@pytest.fixture
def streams_config(tmp_path, redeploy) -> Callable[[Callable[[dict], None]], Path]:
    """Point STREAMS_CONFIG at a copy of the shipped configuration, changed by ``change(raw)``."""

    def write(change: Callable[[dict], None]) -> Path:
        raw = json.loads(DEFAULT_CONFIG.read_text())
        change(raw)
        path = tmp_path / "streams.json"
        path.write_text(json.dumps(raw))
        redeploy("STREAMS_CONFIG", str(path))
        return path

    return write


@pytest.fixture
def signing(runtime) -> Tsk:
    """The developer stream's artifacts are signed with a new key kept in Secrets Manager."""
    key = Tsk.generate("atomic-release artifacts <artifacts@example.invalid>")
    keep_signing_key(str(key))
    return key


@pytest.fixture
def signs_with_the_secret(runtime, streams_config) -> None:
    streams_config(lambda raw: raw["streams"][STREAM].update(artifact_signing_key_secret=ARTIFACT_SIGNING_SECRET))
