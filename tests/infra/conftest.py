"""The packaged stack, made once per test session as `make package` makes it."""

import zipfile
from pathlib import Path

import pytest
import yaml

from atomic_release.cli.package import BUNDLE_NAME, TEMPLATE_NAME, build_package


@pytest.fixture(scope="session")
def package(tmp_path_factory) -> Path:
    """The folder `make package` writes: sam.yaml, deployment.zip, state_machines/."""
    return build_package(tmp_path_factory.mktemp("package") / "out").parent


@pytest.fixture(scope="session")
def sam_template(package) -> dict:
    return yaml.safe_load((package / TEMPLATE_NAME).read_text())


@pytest.fixture(scope="session")
def transformed_template(package) -> dict:
    """The template as CloudFormation sees it: uploaded (`aws cloudformation package`), then
    through the AWS::Serverless transform."""
    from moto import mock_aws

    from atomic_release.local.stack import serverless_transform, upload_artifacts
    from chalicelib.aws.clients import client, reset_clients

    with pytest.MonkeyPatch.context() as patch, mock_aws():
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        reset_clients()
        client("s3").create_bucket(Bucket="artifacts")
        transformed = serverless_transform(upload_artifacts(package, "artifacts"), {})
    reset_clients()
    return transformed


@pytest.fixture(scope="session")
def bundle(package, tmp_path_factory) -> Path:
    """deployment.zip unpacked, as Lambda unpacks it."""
    into = tmp_path_factory.mktemp("bundle")
    with zipfile.ZipFile(package / BUNDLE_NAME) as archive:
        archive.extractall(into)
    return into
