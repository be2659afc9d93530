"""Service Quotas adapter: the account's value of a quota, or AWS's default."""

from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of


def quota_value(region: str, service_code: str, quota_code: str) -> float | None:
    """The account's applied value; AWS's default when the account has none; None when
    Service Quotas knows neither."""
    quotas = client("service-quotas", region)
    for ask in (quotas.get_service_quota, quotas.get_aws_default_service_quota):
        try:
            return ask(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]["Value"]
        except ClientError as error:
            if code_of(error) != "NoSuchResourceException":
                raise
    return None
