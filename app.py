"""The Chalice app: wiring only. The task Lambdas register themselves in ``functions/``; the
schedules, EventBridge rules and API routes are here, each one line into ``chalicelib``."""

import os

from chalice import Chalice, IAMAuthorizer, Rate, Response
from chalice.app import Request

from chalicelib.api import dashboard, maintainers
from chalicelib.api.http import Answer
from chalicelib.core.settings import settings
from chalicelib.triggers import detect, events, starter, webhook
from chalicelib.upkeep import retention, sweeper
from functions import (
    announce,
    check_build,
    check_copies,
    cleanup_arch,
    copy_to_region,
    evaluate_qa,
    fail_release,
    finalize,
    launch_builder,
    launch_qa,
    marketplace,
    preflight,
    prepare,
    publish_region,
    register_image,
    validate,
)

app = Chalice(app_name="atomic-release")

# The release state machine's task Lambdas, in flow order (each module registers its own).
TASKS = (prepare, launch_builder, register_image, launch_qa, evaluate_qa, cleanup_arch, check_build, preflight,
         copy_to_region, check_copies, publish_region, validate, announce, marketplace, finalize, fail_release)
for task_module in TASKS:
    app.register_blueprint(task_module.blueprint)


# Every schedule and event rule checks the function's environment before it does anything (a task
# Lambda does in its decorator, the API and the webhook as a request begins; the page needs
# none): a deployment that lacks a variable fails at once, naming it.
def settings_first(event, get_response):
    settings()
    return get_response(event)


for event_type in ("scheduled", "cloudwatch"):
    app.register_middleware(settings_first, event_type)


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


@app.route("/hooks/ostree", methods=["POST"], content_types=["application/json"])
def ostree_hook():
    request = _request()
    answer = webhook.handle(dict(request.headers), _raw_body(request))
    return Response(body=answer.body, status_code=answer.status)


# -- maintainers: the API (signed with the caller's AWS credentials) and the page that reads it -----

maintainers_only = IAMAuthorizer()



def _respond(answer: Answer) -> Response:
    return Response(body=answer.body, status_code=answer.status)


@app.route("/releases", methods=["GET"], authorizer=maintainers_only)
def list_releases():
    return _respond(maintainers.answer(lambda: maintainers.list_releases(_request().query_params)))


@app.route("/releases", methods=["POST"], authorizer=maintainers_only, content_types=["application/json"])
def trigger_release():
    return _respond(maintainers.answer(lambda: maintainers.trigger(_raw_body(_request()))))


@app.route("/releases/{release_id}", methods=["GET"], authorizer=maintainers_only)
def show_release(release_id):
    return _respond(maintainers.answer(lambda: maintainers.show_release(release_id)))


@app.route("/releases/{release_id}/retry", methods=["POST"], authorizer=maintainers_only)
def retry_release(release_id):
    return _respond(maintainers.answer(lambda: starter.retry(release_id)))


@app.route("/releases/{release_id}/abort", methods=["POST"], authorizer=maintainers_only)
def abort_release(release_id):
    return _respond(maintainers.answer(lambda: maintainers.abort_release(release_id, _raw_body(_request()))))


@app.route("/", methods=["GET"])
def dashboard_page():
    return _asset("index.html")


@app.route("/assets/{name}", methods=["GET"])
def dashboard_asset(name):
    return _asset(name)


def _asset(name: str) -> Response:
    found = dashboard.asset(name)
    if found is None:
        return Response(body={"error": f"no asset {name}"}, status_code=404)
    body, content_type = found
    return Response(body=body, status_code=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})


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
    runs = retention.run_all(dry_run=settings().retention_dry_run)
    return {"lines": runs.lines(), "failed": runs.failed}
