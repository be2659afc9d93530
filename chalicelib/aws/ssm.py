"""SSM adapter: Parameter Store's values, the image parameters the pipeline writes, and the
webhook's SecureString."""

from aws_lambda_powertools.utilities.parameters import SSMProvider
from botocore.exceptions import ClientError

from chalicelib.aws.clients import client
from chalicelib.aws.errors import code_of


def parameter(region: str, name: str) -> str:
    """A parameter's value; AWS's refusal (ParameterNotFound too) is raised."""
    return client("ssm", region).get_parameter(Name=name)["Parameter"]["Value"]


def parameter_value(region: str, name: str) -> str | None:
    try:
        return parameter(region, name)
    except ClientError as error:
        if code_of(error) == "ParameterNotFound":
            return None
        raise


def existing_parameters(region: str, names: list[str]) -> dict[str, str]:
    """name -> value of those of the parameters that exist (one GetParameters call)."""
    return {p["Name"]: p["Value"] for p in client("ssm", region).get_parameters(Names=names)["Parameters"]}


def put_image_parameter(region: str, name: str, image_id: str, description: str) -> None:
    """Point a parameter at an image (EC2 checks an ``aws:ec2:image`` value names one)."""
    client("ssm", region).put_parameter(Name=name, Value=image_id, Type="String", DataType="aws:ec2:image",
                                        Overwrite=True, Description=description)


def delete_parameter(region: str, name: str) -> None:
    client("ssm", region).delete_parameter(Name=name)


def cached_parameters() -> SSMProvider:
    """Powertools' SSM provider in the function's own region: it caches what it reads (the
    webhook's SecureString, read with ``decrypt=True``)."""
    return SSMProvider(boto3_client=client("ssm"))
