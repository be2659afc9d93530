"""The Chalice app: wiring only. The task Lambdas register themselves in ``functions/``; the
schedules, EventBridge rules and API routes are here, each one line into ``chalicelib``."""

import os

from chalice import Chalice, IAMAuthorizer, Rate, Response
from chalice.app import Request

from chalicelib.api import dashboard, maintainers, middleware
from chalicelib.api.http import Answer
from chalicelib.triggers import detect, events, starter, webhook
from chalicelib.upkeep import retention, sweeper
from functions import (
    announce,
    check_build,
    cleanup_arch,
    copy_to_region,
    evaluate_qa,
    fail_release,
    finalize,
    follow_copies,
    launch_builder,
    launch_qa,
    marketplace,
    preflight,
    prepare,
    register_image,
    validate,
)

app = Chalice(app_name="atomic-release")

# The release state machine's task Lambdas, in flow order (each module registers its own).
TASKS = (prepare, launch_builder, register_image, launch_qa, evaluate_qa, cleanup_arch, check_build, preflight,
         copy_to_region, follow_copies, validate, announce, marketplace, finalize, fail_release)
for task_module in TASKS:
    app.register_blueprint(task_module.blueprint)


# Every schedule, event rule and route logs with its Lambda context and a correlation id; every
# schedule and event rule checks the function's settings first (a task Lambda's decorator does both).
for event_type in ("http", "scheduled", "cloudwatch"):
    app.register_middleware(middleware.lambda_context_logs, event_type)
for event_type in ("scheduled", "cloudwatch"):
    app.register_middleware(middleware.settings_first, event_type)
# Chalice's own error answers (415, 405, 500) say why in `error` too, as every answer does.
app.register_middleware(middleware.errors_say_why, "http")


# -- commit detection ----------------------------------------------------------------------------
# The poll rate is fixed when the app is packaged: POLL_MINUTES in the packaging environment. It
# is not one of the functions' settings: `chalice package` writes the rate into the template, and
# the value a function reads when it imports this module changes nothing.

@app.schedule(Rate(int(os.environ.get("POLL_MINUTES", "15")), unit=Rate.MINUTES), name="poll_repositories")
def poll_repositories(event):
    return [decision.model_dump() for decision in detect.poll_all()]


@app.schedule(Rate(14, unit=Rate.DAYS), name="biweekly_cadence")
def biweekly_cadence(event):
    return [decision.model_dump() for decision in detect.cadence_all()]


def _request() -> Request:
    """The request a route is handling."""
    request = app.current_request
    assert request is not None, "Chalice sets current_request before it calls a route"
    return request


def _raw_body(request: Request) -> bytes:
    # Chalice types raw_body as str | bytes, but it encodes a str body to bytes before returning it
    body = request.raw_body
    return body.encode() if isinstance(body, str) else body


def _respond(answer: Answer) -> Response:
    return Response(body=answer.body, status_code=answer.status)


@app.route("/hooks/ostree", methods=["POST"], content_types=["application/json"])
def ostree_hook():
    request = _request()
    answer = webhook.handle(dict(request.headers), _raw_body(request), lambda_context=app.lambda_context)
    return _respond(answer)


# -- maintainers: the API (signed with the caller's AWS credentials) and the page that reads it -----

maintainers_only = IAMAuthorizer()


@app.route("/releases", methods=["GET"], authorizer=maintainers_only)
def list_releases():
    return _respond(maintainers.answer(lambda: maintainers.list_releases(_request().query_params)))


@app.route("/releases", methods=["POST"], authorizer=maintainers_only, content_types=["application/json"])
def trigger_release():
    return _respond(maintainers.answer(lambda: maintainers.trigger(_raw_body(_request()))))


@app.route("/releases/{release_id}", methods=["GET"], authorizer=maintainers_only)
def show_release(release_id):
    return _respond(maintainers.answer(lambda: maintainers.show_release(release_id)))


@app.route("/streams/{stream}/plan", methods=["GET"], authorizer=maintainers_only)
def plan_release(stream):
    return _respond(maintainers.answer(lambda: maintainers.plan_release(stream, _request().query_params)))


@app.route("/releases/{release_id}/retry", methods=["POST"], authorizer=maintainers_only)
def retry_release(release_id):
    return _respond(maintainers.answer(lambda: starter.retry(release_id)))


@app.route("/releases/{release_id}/abort", methods=["POST"], authorizer=maintainers_only)
def abort_release(release_id):
    return _respond(maintainers.answer(lambda: maintainers.abort_release(release_id, _raw_body(_request()))))


@app.route("/", methods=["GET"])
def dashboard_page():
    request = _request()
    return dashboard.page((request.context or {}).get("path") or "/", request.query_params)


@app.route("/assets/{name}", methods=["GET"])
def dashboard_asset(name):
    return dashboard.served(name)


@app.on_cw_event({"source": [events.SOURCE], "detail-type": [events.PUNGI_OSTREE]}, name="pungi_ostree_commit")
def pungi_ostree_commit(event):
    return events.on_pungi_ostree(event.to_dict()).model_dump()


@app.on_cw_event({"source": [events.SOURCE], "detail-type": [events.COREOS_BUILD_STATE]}, name="coreos_build_state")
def coreos_build_state(event):
    return events.on_coreos_build_state(event.to_dict()).model_dump()


# -- cleanup that no Catch path does ----------------------------------------------------------

@app.on_cw_event({"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
                  "detail": {"status": list(sweeper.ENDED_WITHOUT_CATCH)}}, name="release_execution_ended")
def release_execution_ended(event):
    return sweeper.on_execution_ended(event.to_dict())


@app.schedule(Rate(1, unit=Rate.HOURS), name="sweep_leftovers")
def sweep_leftovers(event):
    return sweeper.sweep().model_dump()


# RETENTION_DRY_RUN=true: the daily run only logs the plan; a new deployment starts that way.
@app.schedule(Rate(1, unit=Rate.DAYS), name="retire_old_releases")
def retire_old_releases(event):
    return {"lines": retention.scheduled_run()}
