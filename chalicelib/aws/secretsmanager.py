"""Secrets Manager adapter: a secret's string, in the function's own region."""

from chalicelib.aws.clients import client


def secret_string(secret_id: str) -> str:
    return client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
