"""The error families: what the state machine retries, what fails a stage, what the API refuses."""

import inspect

import pytest

import chalicelib.core.errors as errors
from chalicelib.api import maintainers
from tests.unit.test_settings import STACK
from tests.unit.test_state_machine import ASL, all_states

FAMILIES = (errors.Retryable, errors.StageFailure, errors.Refusal, errors.SettingsError, errors.PartlyFailed)
ROOTS = {errors.ReleaseError, *FAMILIES}
DOMAIN = [value for value in vars(errors).values()
          if inspect.isclass(value) and issubclass(value, errors.ReleaseError) and value not in ROOTS]


def asl_error_names(kind: str) -> set[str]:
    return {error for _, state, _ in all_states(ASL["States"]) for rule in state.get(kind, [])
            for error in rule["ErrorEquals"] if not error.startswith(("States.", "Lambda."))}


def test_every_error_name_the_asl_retries_is_a_retryable_class_of_errors_py_and_every_retryable_is_retried():
    retried = asl_error_names("Retry")
    assert retried, "the ASL retries no error of its own"
    for name in retried:
        assert issubclass(getattr(errors, name), errors.Retryable), name
    assert {cls.__name__ for cls in DOMAIN if issubclass(cls, errors.Retryable)} == retried


def test_every_error_name_the_asl_catches_exists_in_errors_py():
    for name in asl_error_names("Catch"):
        assert issubclass(getattr(errors, name), errors.ReleaseError), name


@pytest.mark.parametrize("error", DOMAIN, ids=lambda cls: cls.__name__)
def test_every_error_is_in_exactly_one_family(error):
    assert sum(issubclass(error, family) for family in FAMILIES) == 1


@pytest.mark.parametrize("refusal", [cls for cls in DOMAIN if issubclass(cls, errors.Refusal)],
                         ids=lambda cls: cls.__name__)
def test_every_refusal_carries_an_http_error_status(refusal):
    assert 400 <= refusal.status < 600


def test_the_caller_s_mistakes_are_4xx_and_the_repository_s_failures_502():
    assert errors.UnknownRef.status == 422 and issubclass(errors.UnknownRef, errors.OstreeError)
    assert errors.RepositoryUnreachable.status == errors.CorruptObject.status == 502
    assert errors.ReleaseNotFound.status == 404 and errors.VersionTaken.status == 409


def test_an_error_keeps_its_sentence_and_carries_its_context_as_fields():
    error = errors.CopyFailed("x86_64 ami-1 to eu-west-1: InvalidAMIID.NotFound: gone",
                              region="eu-west-1", arch="x86_64", image_id="ami-1")
    assert str(error) == "x86_64 ami-1 to eu-west-1: InvalidAMIID.NotFound: gone"
    assert (error.region, error.arch, error.image_id, error.release_id) == ("eu-west-1", "x86_64", "ami-1", None)
    assert error.context == {"region": "eu-west-1", "arch": "x86_64", "image_id": "ami-1"}
    assert errors.QAFailed("x86_64: booted: expected 'a', got 'b'").context == {}


@pytest.fixture
def deployed(monkeypatch):
    """The environment the stack gives the API's function."""
    for name, value in STACK.items():
        monkeypatch.setenv(name, value)


@pytest.mark.parametrize("refusal", [errors.ReleaseNotFound("no release r1 is recorded", release_id="r1"),
                                     errors.UnknownRef("http://repo/: no ref 'x' in the repository"),
                                     errors.RepositoryUnreachable("http://repo/: HTTP 503"),
                                     errors.BadRequest("body: must be a JSON object")],
                         ids=lambda error: type(error).__name__)
def test_the_api_answers_a_refusal_with_its_class_s_status_and_its_sentence(deployed, refusal):
    def refused():
        raise refusal

    answer = maintainers.answer(refused)
    assert (answer.status, answer.body) == (refusal.status, {"error": str(refusal)})


def test_the_api_answers_any_other_failure_as_an_internal_error_without_its_sentence(deployed):
    def failed():
        raise errors.PublishFailed("us-east-1: secret detail", region="us-east-1")

    assert maintainers.answer(failed).model_dump() == {"status": 500, "body": {"error": "internal error"}}


def test_the_api_answers_a_deployment_that_lacks_a_variable_as_an_internal_error(deployed, monkeypatch):
    monkeypatch.delenv("RELEASES_TABLE")
    assert maintainers.answer(lambda: pytest.fail("the request ran")).status == 500
