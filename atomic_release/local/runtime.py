"""The same release state machine, run on one machine: moto's AWS, moto's Step Functions
interpreter, the task Lambdas dispatched in-process, and simulated guests (or, with
``guests="qemu"``, real ones: the builder script on a loop device, QA in QEMU)."""

import contextlib
import functools
import io
import json
import os
import re
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent import futures
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from moto import mock_aws

from atomic_release.local import marketplace_catalog, patches
from atomic_release.local.guests.player import RealGuests, guest_endpoints
from atomic_release.local.marketplace_catalog.faults import MarketplaceFault
from atomic_release.local.region_faults import RegionFault, RegionFaults
from atomic_release.local.serving import LOCAL_PUBLIC_URL
from atomic_release.local.simulator import Fault, InstanceSimulator
from atomic_release.local.virtual_clock import VirtualClock
from chalicelib.aws.clients import client, reset_clients
from chalicelib.aws.s3 import objects_under
from chalicelib.core.arch import Arch
from chalicelib.core.config import StreamsConfig, load_streams
from chalicelib.core.settings import reset_settings
from chalicelib.models.release import ReleaseInput
from chalicelib.stages.flow import PROGRESS_STATES
from chalicelib.triggers.starter import StartResult, start_release

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions.type_defs import HistoryEventTypeDef

ROOT = Path(__file__).resolve().parents[2]
# Only a hang reaches it: every wait here is on work that ends, however busy the machine.
HANG_GUARD_S = 300
ASL = ROOT / "state_machines" / "release.asl.json"
ACCOUNT = "123456789012"
# app.py's rule on the end of an execution without its Catch paths: it cleans up after an abort.
END_OF_EXECUTION_RULE = "release_execution_ended"
APP_NAME = "atomic-release"
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9]+)\}")
PUBLIC_PREFIX = "streams/"   # of the metadata bucket: everything a release makes public

# Never real credentials: everything the local runtime touches is moto's.
_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false", "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "AtomicRelease",
}
_SET_BY_THE_STACK = ("RELEASE_TOPIC_ARN", "RELEASE_STATE_MACHINE_ARN", "RELEASE_EVENT_BUS", "RETENTION_DRY_RUN")
_UNSET = ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "GUEST_STATES_ENDPOINT",
          "GUEST_S3_ENDPOINT")


TEMPLATE = ROOT / "infra" / "release.yaml"
_TABLE_SHAPE = ("KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes")


@functools.cache
def read_template() -> dict:
    """infra/release.yaml with its CloudFormation tags (!Ref, !Sub, ...) read as nothing: for what
    needs only its names and plain values."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    return yaml.load(TEMPLATE.read_text(), Loader=Loader)


def table_shape(logical_id: str) -> dict:
    """The keys and indexes of one of the template's tables, as the deployed stack makes it: the
    template is their one definition (a table's shape has no CloudFormation tags)."""
    properties = read_template()["Resources"][logical_id]["Properties"]
    return {name: properties[name] for name in _TABLE_SHAPE if name in properties}


def substitution_name(function_name: str) -> str:
    """``launch_builder`` -> ``LaunchBuilderArn``, as the ASL and the deployed template name it."""
    return "".join(part.capitalize() for part in function_name.split("_")) + "Arn"


def render_definition(asl: str, arns: dict[str, str]) -> str:
    missing = sorted({name for name in _SUBSTITUTION.findall(asl) if name not in arns})
    if missing:
        raise RuntimeError(f"{ASL.name} names functions app.py does not register: {', '.join(missing)}")
    return _SUBSTITUTION.sub(lambda m: arns[m.group(1)], asl)


@dataclass
class StageEvent:
    stage: str
    phase: str  # "started" | "ended" | "failed"


@dataclass
class Finished:
    execution_arn: str
    status: str
    output: dict | None
    error: str | None
    cause: str | None
    history: list["HistoryEventTypeDef"]
    polls: int
    wall_s: float

    @property
    def transitions(self) -> int:
        return sum(1 for e in self.history if e["type"].endswith("StateEntered"))

    @property
    def last_stage(self) -> str | None:
        stages = [e.stage for e in map(_stage_event, self.history) if e and e.phase == "started"]
        return stages[-1].lower() if stages else None


@dataclass
class LocalRuntime:
    config: str | os.PathLike | None = None   # stream configuration file; None: the shipped one
    faults: list[Fault | RegionFault | MarketplaceFault] = field(default_factory=list)
    stage: str = "local"
    webhook_secret: str = "whsec_YXRvbWljLXJlbGVhc2UgbG9jYWwgd2ViaG9vayBrZXk="  # Standard Webhooks: whsec_<base64>
    poll_s: float = 0.05
    max_history_s: float = 1.0
    guests: Literal["simulated", "qemu"] = "simulated"
    # what builders pull from: real ones (relayed to them when on 127.0.0.1), and simulated ones,
    # which read the commit's signature there; None: a synthetic release, read from nowhere
    repo_url: str | None = None
    # the base of every public URL the documents name: where the public files will be served
    public_base_url: str = LOCAL_PUBLIC_URL
    # the model's latencies passing in simulated time; None: every copy is available at once
    clock: VirtualClock | None = None

    def __post_init__(self):
        self.config = str(Path(self.config).resolve()) if self.config else None
        self.streams: StreamsConfig = load_streams(self.config)
        self.base_regions = sorted({s.regions.base for s in self.streams.streams.values()})
        self.home_region = self.base_regions[0]
        guest_faults = [f for f in self.faults if isinstance(f, Fault)]
        self.simulator: InstanceSimulator | RealGuests
        if self.guests == "qemu":
            if guest_faults:
                raise ValueError("guest faults are the simulator's: real guests fail only for real")
            if not self.repo_url:
                raise ValueError("real guests need the repository's URL")
            self.simulator = RealGuests(Path(tempfile.mkdtemp(prefix="atomic-release-guests-")), self.repo_url,
                                        ACCOUNT)
        else:
            self.simulator = InstanceSimulator(faults=guest_faults, reads_repository=self.repo_url is not None)
        self.region_faults = RegionFaults([f for f in self.faults if isinstance(f, RegionFault)])
        self._saved_env: dict[str, str | None] = {}
        self._mock = None
        self._interrupted = False
        self._ends_delivered: dict[str, Future[dict]] = {}   # the rule's answer, or the error that stopped it

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> "LocalRuntime":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if isinstance(self.simulator, RealGuests):
            self.simulator.__enter__()
        self._set_environment()
        quiet_task_logs()
        patches.install()
        _read_once_per_process()
        reset_settings()   # this runtime's environment, even where the clients are kept
        if not _clients_shared:
            reset_clients()
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                                      "lambda": {"use_docker": False}})
        self._mock.start()
        self._provision()
        if self.clock is not None:
            self.clock.attach(_history_as_recorded)

    def stop(self) -> None:
        futures.wait(list(self._ends_delivered.values()), HANG_GUARD_S)   # moto must outlive the rule's cleanup
        patches.current = None
        if self.clock is not None:
            self.clock.detach()
        if isinstance(self.simulator, RealGuests):
            self.simulator.__exit__(None, None, None)
            self.simulator.remove_disks()
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        if not _clients_shared:
            reset_clients()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        reset_settings()

    def _set_environment(self) -> None:
        values = {**_ENVIRONMENT, "AWS_DEFAULT_REGION": self.home_region, "AWS_REGION": self.home_region,
                  "RELEASES_TABLE": f"{APP_NAME}-{self.stage}-releases",
                  "STATE_TABLE": f"{APP_NAME}-{self.stage}-state",
                  "IDEMPOTENCY_TABLE": f"{APP_NAME}-{self.stage}-idempotency",
                  "BUILDER_INSTANCE_PROFILE": f"{APP_NAME}-{self.stage}-builder",
                  "QA_INSTANCE_PROFILE": f"{APP_NAME}-{self.stage}-qa",
                  "WEBHOOK_SECRET_PARAMETER": f"/{APP_NAME}/{self.stage}/webhook-secret",
                  "METADATA_BUCKET": f"{APP_NAME}-{self.stage}-metadata",
                  "PUBLIC_BASE_URL": self.public_base_url,
                  "PRICE_SOURCE": "price-file"}
        for key in (*values, *_UNSET, *_SET_BY_THE_STACK, "STREAMS_CONFIG", "WEBHOOK_SECRET_ID"):
            self._saved_env.setdefault(key, os.environ.get(key))
        for key in (*_UNSET, "STREAMS_CONFIG", "WEBHOOK_SECRET_ID"):
            os.environ.pop(key, None)
        if self.config:
            values["STREAMS_CONFIG"] = str(self.config)  # a path, resolved in __post_init__
        if isinstance(self.simulator, RealGuests):
            values.update(guest_endpoints(self.simulator.states_port, self.simulator.s3_port))
        os.environ.update(values)

    # -- provisioning -----------------------------------------------------------------------
    def _provision(self) -> None:
        self._create_resources()
        self._publish_builder_images()
        self._offer_marketplace_products()
        self.region_faults.set_up()
        for fault in self.faults:
            if isinstance(fault, MarketplaceFault):
                fault.set_up(self.streams)

    def _create_resources(self) -> None:
        """What the deployed stack holds, made directly (the stack itself: ``local.stack``)."""
        role_arn = client("iam").create_role(
            RoleName=f"{APP_NAME}-{self.stage}", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": ["lambda.amazonaws.com",
                                                                                  "states.amazonaws.com"]}}]}),
        )["Role"]["Arn"]
        self._create_instance_profiles()
        for logical_id, variable in (("ReleasesTable", "RELEASES_TABLE"), ("StateTable", "STATE_TABLE"),
                                     ("IdempotencyTable", "IDEMPOTENCY_TABLE")):
            client("dynamodb").create_table(TableName=os.environ[variable], BillingMode="PAY_PER_REQUEST",
                                            **table_shape(logical_id))
        client("ssm").put_parameter(Name=os.environ["WEBHOOK_SECRET_PARAMETER"], Type="SecureString",
                                    Value=self.webhook_secret)
        client("s3").create_bucket(Bucket=os.environ["METADATA_BUCKET"])
        os.environ["RELEASE_TOPIC_ARN"] = client("sns").create_topic(Name=f"{APP_NAME}-{self.stage}-releases")["TopicArn"]
        arns = self._create_functions(role_arn)
        definition = render_definition(ASL.read_text(), arns)
        os.environ["RELEASE_STATE_MACHINE_ARN"] = client("stepfunctions").create_state_machine(
            name=f"{APP_NAME}-{self.stage}-release", definition=definition, roleArn=role_arn)["stateMachineArn"]

    def _create_instance_profiles(self) -> None:
        iam = client("iam")
        for role in ("builder", "qa"):
            name = os.environ[f"{role.upper()}_INSTANCE_PROFILE"]
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "ec2.amazonaws.com"}}]}))
            iam.create_instance_profile(InstanceProfileName=name)
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)

    def _create_functions(self, role_arn: str) -> dict[str, str]:
        from app import app  # the Chalice app is the one registry of task Lambdas

        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "# the local runtime runs the handlers in-process\n")
        handlers: dict[str, Callable] = {}
        arns: dict[str, str] = {}
        for function in app.pure_lambda_functions:
            name = f"{APP_NAME}-{self.stage}-{function.name}"
            arns[substitution_name(function.name)] = client("lambda").create_function(
                FunctionName=name, Runtime="python3.11", Role=role_arn, Handler=function.handler_string,
                Code={"ZipFile": code.getvalue()}, Timeout=900)["FunctionArn"]
            handlers[name] = function.func
        import app as chalice_app

        rule = f"{APP_NAME}-{self.stage}-{END_OF_EXECUTION_RULE}"   # what EventBridge delivers an execution's end to
        client("lambda").create_function(FunctionName=rule, Runtime="python3.11", Role=role_arn,
                                         Handler=f"app.{END_OF_EXECUTION_RULE}", Code={"ZipFile": code.getvalue()},
                                         Timeout=900)
        handlers[rule] = getattr(chalice_app, END_OF_EXECUTION_RULE)
        self._dispatch(handlers)
        return arns

    def _dispatch(self, handlers: dict[str, Callable]) -> None:
        """Invocations of these functions (by deployed name) run their handlers in-process."""
        patches.current = patches.Dispatch(handlers=handlers, after_invoke=self._after_invoke,
                                           guests_working=self._guests_working, launched=self.simulator.launched,
                                           copied=self._copy_made, invoked=self._invoked,
                                           stopped=self._stopped, started=self._hold_again)
        if self.clock is not None:
            patches.current.invoking = self.clock.before_invoke

    def _invoked(self, function_name: str, event: dict) -> None:
        self.region_faults.invoked(function_name, event)
        if self.clock is not None:
            self.clock.after_invoke(function_name, event)

    def _copy_made(self, region: str, ami) -> None:
        """A failing region's copy fails; under the clock the others are pending until their time."""
        self.region_faults.copy_made(region, ami)
        if self.clock is not None:
            self.clock.copy_made(region, ami)

    def _guests_working(self) -> bool:
        """While a held guest works its task-token wait is real, until an abort interrupts it."""
        return self.simulator.guests_working and not self._interrupted

    def _after_invoke(self) -> None:
        """Guests launched by the task boot; its metrics, which locally go nowhere, are dropped
        (with metrics disabled Powertools keeps them, and prints them once 100 pile up)."""
        from chalicelib.core.observability import metrics

        metrics.clear_metrics()
        if self.clock is not None:
            self.clock.task_ended()
        self.simulator.boot_new_instances()

    def _publish_builder_images(self) -> None:
        """What AWS offers every account: a builder OS image per architecture, named by a public
        SSM parameter (which no account may write, so it is set in moto's backend)."""
        from moto.ssm.models import Parameter, ssm_backends

        for stream in self.streams.streams.values():
            region = stream.regions.base
            for arch, parameter in stream.builder_image_parameter.items():
                versions = ssm_backends[ACCOUNT][region]._parameters[parameter]
                # moto declares CloudFormation's hooks abstract on Parameter, without ABCMeta: it is instantiable
                versions.append(Parameter(  # type: ignore[abstract]
                    account_id=ACCOUNT, name=parameter, value=_builder_os_image(region, arch),
                    parameter_type="String", description=None, allowed_pattern=None, keyid=None,
                    last_modified_date=datetime.now(UTC), version=len(versions) + 1,
                    data_type="aws:ec2:image"))

    def _offer_marketplace_products(self) -> None:
        """What a seller has before the first release: each stream's Marketplace products, and
        the role Marketplace assumes to copy the images."""
        iam = client("iam")
        roles: set[str] = set()
        products: dict[str, str] = {}
        for stream in self.streams.streams.values():
            for arch, product in stream.marketplace.products.items():
                products.setdefault(product.product_id, f"{stream.name} ({arch})")
                roles.add(product.role_arn(ACCOUNT).split(":role", 1)[1])
        for product_id, title in sorted(products.items()):
            marketplace_catalog.add_product(product_id, title)
        for path_and_name in sorted(roles):
            path, _, name = path_and_name.rpartition("/")
            if _role_exists(name):  # a deployed stack makes it
                continue
            iam.create_role(RoleName=name, Path=path + "/", AssumeRolePolicyDocument=json.dumps({
                "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Principal": {"Service": "assets.marketplace.amazonaws.com"}}]}))

    # -- running a release ------------------------------------------------------------------
    @property
    def lambda_invocations(self) -> int:
        return patches.current.invocations if patches.current else 0

    def start_release(self, release: ReleaseInput) -> StartResult:
        return start_release(release)

    def wait(self, execution_arn: str, on_stage: Callable[[StageEvent], None] | None = None,
             timeout_s: float = HANG_GUARD_S) -> Finished:
        """Poll until the execution leaves RUNNING, reporting top-level stages as they go.

        The status is cheap to ask often. moto returns the whole history on every call, and
        reading it competes with the interpreter for the interpreter lock, so the history is
        read at a growing interval (at most ``max_history_s``) and once at the end.

        ``timeout_s`` guards against a hang: it counts from the last task any execution invoked,
        so a busy machine, which slows every task down, never reaches it."""
        sfn = client("stepfunctions")
        started = time.monotonic()
        polls, reported = 0, 0
        history_interval = self.poll_s
        next_history = started
        progress = _Progress(self)

        def report(history: list["HistoryEventTypeDef"]) -> None:
            nonlocal reported
            for event in history[reported:]:
                stage = _stage_event(event)
                if stage and on_stage:
                    on_stage(stage)
            reported = len(history)

        while True:
            polls += 1
            if sfn.describe_execution(executionArn=execution_arn)["status"] != "RUNNING":
                break
            now = time.monotonic()
            if progress.idle_s(now) > timeout_s:
                raise TimeoutError(f"{execution_arn} still RUNNING, and no task invoked for {timeout_s:.0f} s")
            if on_stage and now >= next_history:
                report(self.history(execution_arn))
                history_interval = min(history_interval * 1.5, self.max_history_s)
                next_history = now + history_interval
            time.sleep(self.poll_s)
        history = self.history(execution_arn)
        report(history)
        described = sfn.describe_execution(executionArn=execution_arn)
        return Finished(
            execution_arn=execution_arn, status=described["status"],
            output=json.loads(described["output"]) if described.get("output") else None,
            error=described.get("error"), cause=described.get("cause"), history=history, polls=polls,
            wall_s=time.monotonic() - started)

    def write_public_files(self, directory: Path) -> list[str]:
        """Every object a release made public (under ``streams/`` of the metadata bucket) written
        to ``directory`` under its key, as the bucket would serve it; the keys, in order."""
        s3 = client("s3")
        bucket = os.environ["METADATA_BUCKET"]
        root = directory.resolve()
        written = []
        for listed in objects_under(bucket, PUBLIC_PREFIX):
            key = listed["Key"]
            target = (root / key).resolve()
            if key.endswith("/") or not target.is_relative_to(root):   # a folder marker, or a key with ..
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, key, str(target))   # streamed: an artifact is GiBs
            written.append(key)
        return written

    def _interrupt(self) -> None:
        """An execution was stopped: held guests stop working, and StopExecution answers once the
        execution has ended, as on AWS (moto's interpreter first finishes the state it is in,
        which takes as long as the machine is busy). A stop asked for by a task, in one of the
        interpreter's threads, answers at once: that execution cannot end before the task does."""
        self._interrupted = True
        if _in_the_interpreter():
            return
        for execution in _stopped_but_running():
            _until_ended(execution)

    def _stopped(self, execution_arn: str) -> None:
        """An execution was stopped: as on AWS, StopExecution answers once it ended, and its end
        reaches the rule on it a moment later, whoever stopped it."""
        self._interrupt()
        delivered: Future[dict] = Future()
        self._ends_delivered[execution_arn] = delivered
        threading.Thread(target=self._deliver_end, args=(execution_arn, delivered), daemon=True,
                         name=f"end-of-{execution_arn.rsplit(':', 1)[-1]}").start()

    def _deliver_end(self, execution_arn: str, delivered: Future[dict]) -> None:
        try:
            delivered.set_result(self._end_answer(execution_arn))
        except Exception as error:  # noqa: BLE001 - kept for end_delivered to raise
            delivered.set_exception(error)

    def _end_answer(self, execution_arn: str) -> dict:
        """EventBridge's "Step Functions Execution Status Change" to app.py's rule on it, once the
        execution ended (moto's interpreter first finishes the state it was in)."""
        sfn = client("stepfunctions")
        deadline = time.monotonic() + HANG_GUARD_S
        while (described := sfn.describe_execution(executionArn=execution_arn))["status"] == "RUNNING" \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Step Functions Execution Status Change",
                 "source": "aws.states", "account": ACCOUNT, "time": datetime.now(UTC).isoformat(timespec="seconds"),
                 "region": self.home_region, "resources": [execution_arn],
                 "detail": {key: described.get(key) for key in ("executionArn", "stateMachineArn", "name", "status",
                                                                   "input")}}
        answer = client("lambda").invoke(FunctionName=f"{APP_NAME}-{self.stage}-{END_OF_EXECUTION_RULE}",
                                         Payload=json.dumps(event).encode())
        return json.loads(answer["Payload"].read())

    def end_delivered(self, execution_arn: str) -> dict:
        """What the rule on the end of a stopped execution answered, once it did (its error, if
        the delivery failed)."""
        return self._ends_delivered[execution_arn].result(HANG_GUARD_S)

    def _hold_again(self) -> None:
        self._interrupted = False

    def abort(self, execution_arn: str) -> dict:
        """Abort the release whose run this is, as a maintainer does through the API, and wait
        for the rule on the run's end to clean up after it: the API's answer with what the rule
        answered (cleaned, removed, or why not) and the status it left."""
        from chalicelib.api.maintainers import abort_release
        from chalicelib.store import records

        described = client("stepfunctions").describe_execution(executionArn=execution_arn)
        release_id = ReleaseInput.model_validate_json(described["input"]).release_id
        answer = abort_release(release_id)
        ended = self.end_delivered(answer.abort.execution_arn)
        record = records.get(release_id)
        return {**answer.model_dump(mode="json"), **ended, "status": record.status if record else answer.status}

    @staticmethod
    def history(execution_arn: str) -> list["HistoryEventTypeDef"]:
        from chalicelib.aws.stepfunctions import execution_history

        return execution_history(execution_arn)


_clients_shared = False


@contextlib.contextmanager
def runtimes_share_clients():
    """Runtimes started within keep the boto3 clients the one before them made. Each still starts
    a new moto (every service reset) and provisions it anew; a client holds none of moto's state,
    only credentials and an endpoint, the same for every runtime. For a test session: making the
    clients again was most of a runtime's start."""
    global _clients_shared
    reset_clients()   # none made before moto was imported, or with this machine's credentials
    _clients_shared = True
    try:
        yield
    finally:
        _clients_shared = False
        reset_clients()


def _history_as_recorded(execution_arn: str) -> list:
    """An execution's history from moto's interpreter itself: what GetExecutionHistory pages and
    serialises, for the clock, which reads it before every timed task (those that read copies' states
    or the time)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    region = execution_arn.split(":")[3]
    return list(stepfunctions_parser_backends[ACCOUNT][region].get_execution_history(execution_arn)["events"])


class _Progress:
    """When the local executions last did something: the count of task invocations moved."""

    def __init__(self, runtime: LocalRuntime):
        self._runtime = runtime
        self._invocations = runtime.lambda_invocations
        self._since = time.monotonic()

    def idle_s(self, now: float) -> float:
        invocations = self._runtime.lambda_invocations
        real_guest_at_work = isinstance(self._runtime.simulator, RealGuests) and self._runtime.simulator.guests_working
        if invocations != self._invocations or real_guest_at_work:
            self._invocations, self._since = invocations, now
        return now - self._since


def _in_the_interpreter() -> bool:
    from moto.stepfunctions.parser.utils import TMP_THREADS  # every thread the interpreter starts

    return threading.current_thread() in TMP_THREADS


def _stopped_but_running() -> list:
    """moto's executions whose stop was asked for, and whose interpreter has not yet ended them."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    # moto types a state machine's executions as its plain Execution; the parser's are its own
    return [execution for backend in stepfunctions_parser_backends[ACCOUNT].values()
            for state_machine in backend.state_machines for execution in state_machine.executions
            if isinstance(execution, Execution) and execution.exec_status == ExecutionStatus.RUNNING
            and isinstance(execution.exec_worker.env.program_state(), ProgramStopped)]


def _until_ended(execution, poll_s: float = 0.01) -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus

    deadline = time.monotonic() + HANG_GUARD_S
    while execution.exec_status == ExecutionStatus.RUNNING and time.monotonic() < deadline:
        time.sleep(poll_s)


def _read_once_per_process() -> None:
    """Each start makes a new moto, and new clients unless they are shared, but what they read
    from files that never change is read once: botocore's service models (one loader for every
    session) and the validation of a state machine definition (moto parses it on every create).
    Both were most of a start's time."""
    import botocore.session
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    if not hasattr(botocore.session.create_loader, "cache_info"):
        botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.session.create_loader)
    validate = StepFunctionsParserBackend._validate_definition
    if not hasattr(validate, "cache_info"):
        StepFunctionsParserBackend._validate_definition = staticmethod(  # type: ignore[method-assign]
            functools.lru_cache(maxsize=64)(validate))


def quiet_task_logs() -> None:
    """Task logs are JSON lines for CloudWatch; on a terminal they drown the progress, so
    locally they are shown only at the level ATOMIC_RELEASE_LOG_LEVEL asks for (default: none)."""
    from chalicelib.core.observability import logger

    logger.setLevel(os.environ.get("ATOMIC_RELEASE_LOG_LEVEL", "CRITICAL"))


def _role_exists(name: str) -> bool:
    try:
        client("iam").get_role(RoleName=name)
    except client("iam").exceptions.NoSuchEntityException:
        return False
    return True


def _builder_os_image(region: str, arch: Arch) -> str:
    ec2 = client("ec2", region)
    name = f"builder-os-{arch}"
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])["Images"]
    if found:
        return found[0]["ImageId"]
    return ec2.register_image(Name=name, Architecture=arch, RootDeviceName="/dev/xvda", VirtualizationType="hvm",
                              EnaSupport=True, BootMode="uefi-preferred")["ImageId"]


def _stage_event(event: "HistoryEventTypeDef") -> StageEvent | None:
    kind = event["type"]
    details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
    name = details.get("name") if details else None
    if name not in PROGRESS_STATES:
        return None
    if kind.endswith("StateEntered"):
        return StageEvent(name, "started")
    if kind.endswith("StateExited"):
        return StageEvent(name, "ended")
    return None
