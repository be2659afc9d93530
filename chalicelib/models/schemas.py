"""The JSON Schemas of the documents atomic-release publishes, written from their models
(chalicelib/models/documents.py): ``make schemas`` writes them to docs/schemas/, and
tests/unit/test_schemas.py keeps the committed files equal to the models."""

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from chalicelib.models.documents import AtomicRelease, AtomicReleaseIndex, AtomicStream

SCHEMAS: dict[str, type[BaseModel]] = {"stream.json": AtomicStream, "release-index.json": AtomicReleaseIndex,
                                       "release.json": AtomicRelease}
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render(model: type[BaseModel]) -> str:
    """The schema a document must meet to be read as ``model`` reads it."""
    schema = {"$schema": DIALECT, **model.model_json_schema(by_alias=True)}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, model in SCHEMAS.items():
        (folder / name).write_text(render(model))
        print(folder / name)


if __name__ == "__main__":
    write(Path(sys.argv[1]))
