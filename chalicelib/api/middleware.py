"""Chalice middleware for every handler that is not a task Lambda: the schedules, the EventBridge
rules and the routes. (A task Lambda's ``task`` decorator does the same for it, so these are not
registered for "all", which includes the tasks.) And, for the routes, Chalice's own error answers."""

from typing import Any

from chalice.app import Request

from chalicelib.api.http import capped
from chalicelib.core.observability import count_cold_start, logger
from chalicelib.core.settings import settings
from chalicelib.upkeep import sweeper


def lambda_context_logs(event: Any, get_response):
    """Log with the Lambda context and a correlation id (the release id where there is one, else
    the event's or the API request's id), count the cold start, and log an exception with both."""
    context = event.lambda_context if isinstance(event, Request) else event.context
    count_cold_start(context)

    @logger.inject_lambda_context(clear_state=True)
    def handle(_event, _context):
        logger.set_correlation_id(correlation_id(event))
        try:
            return get_response(event)
        except Exception:
            logger.exception("handler failed")  # with the context, beside the runtime's bare traceback
            raise

    return handle({}, context)


def correlation_id(event: Any) -> str | None:
    if isinstance(event, Request):
        return (event.uri_params or {}).get("release_id") or event.context.get("requestId")
    if event.source == "aws.states":
        return sweeper.ended_release_id(event.detail) or event.event_id
    return event.event_id


def settings_first(event: Any, get_response):
    """Check the function's environment before anything else (a task Lambda does in its decorator,
    the API and the webhook as a request begins; the page needs none): a deployment that lacks a
    variable fails at once, naming it."""
    settings()
    return get_response(event)


def errors_say_why(event, get_response):
    """Chalice answers some errors itself (415 for another content type, 405,
    500 for an exception a route let through) as {"Code", "Message"}; those say why in ``error``
    too, as every answer does."""
    response = get_response(event)
    if response.status_code >= 400 and isinstance(response.body, dict) and "error" not in response.body:
        response.body = {"error": capped(str(response.body.get("Message") or response.body)), **response.body}
    return response
