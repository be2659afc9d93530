"""SSM adapter: the value of a parameter, or None when it does not exist."""

from botocore.exceptions import ClientError

from chalicelib.aws.clients import client


def parameter_value(region: str, name: str) -> str | None:
    try:
        return client("ssm", region).get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ParameterNotFound":
            return None
        raise
