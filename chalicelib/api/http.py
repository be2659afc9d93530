"""An HTTP answer as the routes give it: a status and a JSON body; an error says why."""

from pydantic import BaseModel


class Answer(BaseModel):
    status: int
    body: dict


def error(status: int, reason: str) -> Answer:
    return Answer(status=status, body={"error": reason})
