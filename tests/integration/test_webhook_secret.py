"""Where the webhook's secret comes from."""

from chalicelib.aws.clients import client
from chalicelib.triggers import webhook


def test_the_secret_is_read_from_ssm_securestring_by_default(runtime):
    assert webhook.secret_source().read() == runtime.webhook_secret


def test_secrets_manager_is_used_when_a_secret_id_is_set(runtime, redeploy):
    client("secretsmanager").create_secret(Name="atomic-release/webhook", SecretString="from-secrets-manager")
    redeploy("WEBHOOK_SECRET_ID", "atomic-release/webhook")

    assert webhook.secret_source().read() == "from-secrets-manager"
