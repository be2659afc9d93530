"""The Chalice app: wiring only. Each task of the release state machine is a Lambda whose
logic lives in ``functions/`` and ``chalicelib/``."""

import os

from chalice import Chalice, IAMAuthorizer, Rate, Response

from chalicelib import dashboard, detect, events, maintainers, retention, starter, sweeper, webhook
from chalicelib.http import Answer
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


@app.lambda_function(name="prepare")
def prepare_task(event, context):
    return prepare.handler(event, context)


@app.lambda_function(name="launch_builder")
def launch_builder_task(event, context):
    return launch_builder.handler(event, context)


@app.lambda_function(name="register_image")
def register_image_task(event, context):
    return register_image.handler(event, context)


@app.lambda_function(name="launch_qa")
def launch_qa_task(event, context):
    return launch_qa.handler(event, context)


@app.lambda_function(name="evaluate_qa")
def evaluate_qa_task(event, context):
    return evaluate_qa.handler(event, context)


@app.lambda_function(name="cleanup_arch")
def cleanup_arch_task(event, context):
    return cleanup_arch.handler(event, context)


@app.lambda_function(name="check_build")
def check_build_task(event, context):
    return check_build.handler(event, context)


@app.lambda_function(name="preflight")
def preflight_task(event, context):
    return preflight.handler(event, context)


@app.lambda_function(name="copy_to_region")
def copy_to_region_task(event, context):
    return copy_to_region.handler(event, context)


@app.lambda_function(name="check_copies")
def check_copies_task(event, context):
    return check_copies.handler(event, context)


@app.lambda_function(name="publish_region")
def publish_region_task(event, context):
    return publish_region.handler(event, context)


@app.lambda_function(name="validate")
def validate_task(event, context):
    return validate.handler(event, context)


@app.lambda_function(name="announce")
def announce_task(event, context):
    return announce.handler(event, context)


@app.lambda_function(name="marketplace")
def marketplace_task(event, context):
    return marketplace.handler(event, context)


@app.lambda_function(name="finalize")
def finalize_task(event, context):
    return finalize.handler(event, context)


@app.lambda_function(name="fail_release")
def fail_release_task(event, context):
    return fail_release.handler(event, context)


# -- commit detection ----------------------------------------------------------------------------
# The poll rate is fixed when the app is packaged: POLL_MINUTES in the packaging environment.

@app.schedule(Rate(int(os.environ.get("POLL_MINUTES", "15")), unit=Rate.MINUTES), name="poll_repositories")
def poll_repositories(event):
    return [decision.model_dump() for decision in detect.poll_all()]


@app.schedule(Rate(14, unit=Rate.DAYS), name="biweekly_cadence")
def biweekly_cadence(event):
    return [decision.model_dump() for decision in detect.cadence_all()]


@app.route("/hooks/ostree", methods=["POST"], content_types=["application/json"])
def ostree_hook():
    request = app.current_request
    answer = webhook.handle(dict(request.headers), request.raw_body)
    return Response(body=answer.body, status_code=answer.status)


# -- maintainers: the API (signed with the caller's AWS credentials) and the page that reads it -----

maintainers_only = IAMAuthorizer()


def _respond(answer: Answer) -> Response:
    return Response(body=answer.body, status_code=answer.status)


@app.route("/releases", methods=["GET"], authorizer=maintainers_only)
def list_releases():
    return _respond(maintainers.answer(lambda: maintainers.list_releases(app.current_request.query_params)))


@app.route("/releases", methods=["POST"], authorizer=maintainers_only, content_types=["application/json"])
def trigger_release():
    return _respond(maintainers.answer(lambda: maintainers.trigger(app.current_request.raw_body)))


@app.route("/releases/{release_id}", methods=["GET"], authorizer=maintainers_only)
def show_release(release_id):
    return _respond(maintainers.answer(lambda: maintainers.show_release(release_id)))


@app.route("/releases/{release_id}/retry", methods=["POST"], authorizer=maintainers_only)
def retry_release(release_id):
    return _respond(maintainers.answer(lambda: starter.retry(release_id)))


@app.route("/releases/{release_id}/abort", methods=["POST"], authorizer=maintainers_only)
def abort_release(release_id):
    return _respond(maintainers.answer(lambda: maintainers.abort_release(release_id)))


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
    runs = retention.run_all(dry_run=os.environ.get("RETENTION_DRY_RUN", "true").lower() == "true")
    return {"lines": runs.lines(), "failed": runs.failed}
