"""What a function reads from its environment, read once per cold start and checked as a whole.

``settings()`` is what the stack gives every function (infra/release.yaml's Globals): a deployed
function has no silent defaults, so one that lacks a variable fails at once, naming it, instead
of pointing at a wrong name. Decided per variable:

| variable | when unset |
| --- | --- |
| RELEASES_TABLE, STATE_TABLE, IDEMPOTENCY_TABLE, METADATA_BUCKET, RELEASE_TOPIC_ARN, RELEASE_STATE_MACHINE_ARN, BUILDER_INSTANCE_PROFILE, QA_INSTANCE_PROFILE | an error: only the stack knows these names |
| PUBLIC_BASE_URL | an error: where consumers reach what is public in the metadata bucket (its ``streams/`` prefix), an https URL ending in ``/`` (plain http only on 127.0.0.1 or localhost, for the local runtime); the documents' links start with it |
| WEBHOOK_SECRET_ID or WEBHOOK_SECRET_PARAMETER | an error unless one is set: the secret in Secrets Manager (the stack's) or in SSM |
| RELEASE_EVENT_BUS | ``default``: EventBridge's own bus of the account, where AWS sends events too |
| RETENTION_DRY_RUN | true: retention only reports its plan until a maintainer says otherwise |

``locations()`` is where the code finds AWS and the stream configuration; it is separate because
the CLI and the local runtime need it before (and without) a stack's settings:

| variable | when unset |
| --- | --- |
| AWS_REGION, else AWS_DEFAULT_REGION | an error when a client of the function's own region is asked for (Lambda always sets AWS_REGION) |
| AWS_ENDPOINT_URL | AWS's own endpoints |
| STREAMS_CONFIG | the stream configuration shipped with the code (chalicelib/streams.json) |
| PRICE_SOURCE | ``price-file``: the plan's prices come from the dated price file shipped with the code; ``price-list-api``: from AWS's Price List API, cached (chalicelib/plan/prices.py) |

A process that changes its environment (the local runtime, a test) calls ``reset_settings()``
to have them read again, as a new cold start would."""

import functools
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.core.errors import SettingsError

Name = Annotated[str, Field(min_length=1)]
# https, except on this machine (the local runtime's --public-url)
PUBLIC_BASE_URL_PATTERN = r"^(https://\S+|http://(127\.0\.0\.1|localhost)(:\d+)?(/\S*)?)/$"
_FROM_THE_ENVIRONMENT = SettingsConfigDict(frozen=True, extra="ignore", env_ignore_empty=True)


class Settings(BaseSettings):
    """The names of what the stack made, and how the functions should act on it."""

    model_config = _FROM_THE_ENVIRONMENT
    releases_table: Name
    state_table: Name
    # Webhook deliveries answered, by delivery id (Powertools Idempotency's records; items expire)
    idempotency_table: Name
    metadata_bucket: Name
    release_topic_arn: Name
    release_state_machine_arn: Name
    builder_instance_profile: Name
    qa_instance_profile: Name
    # The bucket's public keys are published under this URL: https://<distribution>/streams/...
    public_base_url: Annotated[str, Field(pattern=PUBLIC_BASE_URL_PATTERN)]
    webhook_secret_id: Name | None = None
    webhook_secret_parameter: Name | None = None
    release_event_bus: Name = "default"
    retention_dry_run: bool = True
    # Where guests reach Step Functions; unset: the region's public endpoint. Guests in a private
    # subnet name their VPC endpoint here.
    guest_states_endpoint: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None
    # Where the builder uploads the disk's images; unset: the region's public S3 endpoint.
    guest_s3_endpoint: Annotated[str, Field(pattern=r"^https?://\S+$")] | None = None

    @model_validator(mode="after")
    def _a_webhook_secret(self) -> "Settings":
        if self.webhook_secret_id is None and self.webhook_secret_parameter is None:
            raise ValueError("WEBHOOK_SECRET_ID (a Secrets Manager secret) or WEBHOOK_SECRET_PARAMETER "
                             "(an SSM SecureString parameter) must be set")
        return self

    def guest_endpoints(self) -> dict[str, str | None]:
        return {"states_endpoint": self.guest_states_endpoint, "s3_endpoint": self.guest_s3_endpoint}

    def instance_profile(self, role: Literal["builder", "qa"]) -> str:
        """Each guest's own instance profile: BUILDER_INSTANCE_PROFILE or QA_INSTANCE_PROFILE."""
        return self.builder_instance_profile if role == "builder" else self.qa_instance_profile


class Locations(BaseSettings):
    """Where AWS and the stream configuration are."""

    model_config = _FROM_THE_ENVIRONMENT
    aws_region: Name | None = Field(default=None, validation_alias="AWS_REGION")
    aws_default_region: Name | None = Field(default=None, validation_alias="AWS_DEFAULT_REGION")
    aws_endpoint_url: Name | None = Field(default=None, validation_alias="AWS_ENDPOINT_URL")
    streams_config: Path | None = Field(default=None, validation_alias="STREAMS_CONFIG")
    price_source: Literal["price-list-api", "price-file"] = Field(default="price-file",
                                                                 validation_alias="PRICE_SOURCE")

    @property
    def region(self) -> str:
        """The function's own region."""
        region = self.aws_region or self.aws_default_region
        if region is None:
            raise SettingsError("AWS_REGION is not set (nor AWS_DEFAULT_REGION): the function's own region")
        return region


SettingsModel = TypeVar("SettingsModel", bound=BaseSettings)


def _read(model: type[SettingsModel]) -> SettingsModel:
    try:
        return model()
    except ValidationError as error:
        raise SettingsError(describe_settings_error(error)) from None


def describe_settings_error(error: ValidationError) -> str:
    """One problem per variable, by the variable's name."""
    problems = []
    for item in error.errors():
        variable = ".".join(str(part) for part in item["loc"]).upper()
        problems.append(f"{variable} is not set" if item["type"] == "missing"
                        else f"{variable}: {item['msg']}" if variable else item["msg"].removeprefix("Value error, "))
    return "the function's environment: " + "; ".join(problems)


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    """The stack's settings; SettingsError names every variable that is missing or wrong."""
    return _read(Settings)


@functools.lru_cache(maxsize=1)
def locations() -> Locations:
    return _read(Locations)


def reset_settings() -> None:
    """Read the environment again on the next ask, as a new cold start would."""
    settings.cache_clear()
    locations.cache_clear()
