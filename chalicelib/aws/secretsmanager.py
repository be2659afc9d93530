"""Secrets Manager adapter: a secret's string, in the function's own region, read now or
through Powertools' provider, which caches it."""

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from chalicelib.aws.clients import client


def secret_string(secret_id: str) -> str:
    return client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]


def cached_secrets() -> SecretsProvider:
    return SecretsProvider(boto3_client=client("secretsmanager"))
