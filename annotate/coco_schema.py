"""The fields of a COCO file that scenesmith reads, checked when the file is loaded.

Why: real label files come from other tools, and a record without `width` or `bbox` used to surface
as a KeyError deep inside the statistics. Checked here, the message names the file, the record and
the key. Only what is read is required; every other field is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from scenesmith.errors import UserError


class CocoImage(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    file_name: str
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class CocoAnnotation(BaseModel):
    model_config = ConfigDict(extra="allow")
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float]


_IMAGES = TypeAdapter(list[CocoImage])
_ANNOTATIONS = TypeAdapter(list[CocoAnnotation])


def check_coco(path: Path, images: list[Any], annotations: list[Any]) -> None:
    """Raise a UserError naming `path`, the record and the key when a record lacks what is read."""
    for key, records, adapter in (("images", images, _IMAGES), ("annotations", annotations, _ANNOTATIONS)):
        try:
            adapter.validate_python(records)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = key
            for part in error["loc"]:
                where += f"[{part}]" if isinstance(part, int) else f".{part}"
            raise UserError(f"{path}: {where}: {error['msg'].lower()}") from None
