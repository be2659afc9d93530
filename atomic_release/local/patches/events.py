"""EventBridge: a rule delivers to its Lambda targets, and a schedule rule receives no events."""

import copy
import json


def _rule_delivers_to_lambda(original):
    """EventBridge as it is for this stack's rules: a schedule rule (no pattern) receives no
    events (moto matches it to every event), and a matching rule's Lambda target is invoked with
    the event (moto raises NotImplementedError). Delivery is asynchronous on AWS: a function's
    error stays with the function."""

    def send_to_targets(self, original_event, transform_input=True):
        if self.scheduled_expression and not self.event_pattern._pattern:
            return
        if not self.event_pattern.matches_event(original_event):
            return
        lambdas = [t for t in self.targets if t["Arn"].split(":")[2] == "lambda"]
        others = copy.copy(self)  # rules are shared by every thread that puts events
        others.targets = [t for t in self.targets if t not in lambdas]
        original(others, original_event, transform_input)
        for target in lambdas:
            _invoke_target(target["Arn"], original_event)

    return send_to_targets


def _invoke_target(function_arn: str, event: dict) -> None:
    from moto.awslambda.models import lambda_backends

    _, _, _, region, account, _, name = function_arn.split(":")[:7]
    lambda_backends[account][region].invoke(name, None, json.dumps(event), {}, {})


def install() -> None:
    from moto.events.models import Rule

    Rule.send_to_targets = _rule_delivers_to_lambda(Rule.send_to_targets)
