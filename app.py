"""The Chalice app: wiring only. Each task of the release state machine is a Lambda whose
logic lives in ``functions/`` and ``chalicelib/``."""

from chalice import Chalice

from functions import (
    announce, check_copies, cleanup_arch, copy_to_region, evaluate_qa, fail_release, finalize,
    launch_builder, launch_qa, prepare, publish_region, register_image,
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


@app.lambda_function(name="copy_to_region")
def copy_to_region_task(event, context):
    return copy_to_region.handler(event, context)


@app.lambda_function(name="check_copies")
def check_copies_task(event, context):
    return check_copies.handler(event, context)


@app.lambda_function(name="publish_region")
def publish_region_task(event, context):
    return publish_region.handler(event, context)


@app.lambda_function(name="announce")
def announce_task(event, context):
    return announce.handler(event, context)


@app.lambda_function(name="finalize")
def finalize_task(event, context):
    return finalize.handler(event, context)


@app.lambda_function(name="fail_release")
def fail_release_task(event, context):
    return fail_release.handler(event, context)
