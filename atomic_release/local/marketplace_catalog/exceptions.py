"""What StartChangeSet and the other operations refuse at once, as botocore's error shapes."""

from dataclasses import dataclass
from typing import NoReturn

from moto.core.exceptions import ServiceException

from atomic_release.local.marketplace_catalog.utils import present

# Errors: their HTTP status and __type come from botocore's model (ValidationException 422,
# ResourceNotFoundException 404, ResourceInUseException 423), which moto's serializer reads by code.


class ValidationException(ServiceException):
    code = "ValidationException"

    def __init__(self, message: str, fields: list[dict] | None = None):
        super().__init__(message)
        self.validation_exception_field_list = fields or None


class ResourceNotFoundException(ServiceException):
    code = "ResourceNotFoundException"


class ResourceInUseException(ServiceException):
    code = "ResourceInUseException"


@dataclass(frozen=True)
class ChangeContext:
    """Which change of a request a problem is in: its index and what it names."""

    index: int
    entity_type: str | None
    entity_id: str | None
    change_type: str | None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the JSON path of the field (inside its change, when it is
    in one) and what is wrong with it."""

    path: str
    says: str
    change: ChangeContext | None = None
    reason: str = "FieldValidationFailed"

    def __str__(self) -> str:
        where = f"ChangeSet[{self.change.index}].{self.path}" if self.change else self.path
        return f"{where}: {self.says}"

    def as_field(self) -> dict:
        """A ValidationExceptionField; Field is relative to the change, as in the model's example
        (``Details.DeliveryOptions[0].Type``)."""
        context = self.change
        return present({"Reason": self.reason, "Field": self.path, "Message": self.says,
                        "EntityType": context and context.entity_type, "EntityId": context and context.entity_id,
                        "ChangeType": context and context.change_type})


def refuse(problems: list[Problem]) -> None:
    if problems:
        raise ValidationException("; ".join(map(str, problems)), [problem.as_field() for problem in problems])


def refuse_field(path: str, says: str) -> NoReturn:
    problem = Problem(path, says)
    raise ValidationException(str(problem), [problem.as_field()])

