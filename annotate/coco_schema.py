"""The fields of a COCO file that scenesmith reads, checked when the file is loaded.

Why: real label files come from other tools, and a record without `width` or `bbox` used to surface
as a KeyError deep inside the statistics. Checked here, the message names the file, the record and
the key. Only what is read is required; every other field is left alone.
"""

from __future__ import annotations

import json
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


class CocoCategory(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int
    name: str


_IMAGES = TypeAdapter(list[CocoImage])
_ANNOTATIONS = TypeAdapter(list[CocoAnnotation])
_CATEGORIES = TypeAdapter(list[CocoCategory])


def _check_records(path: Path, coco: dict[str, list[Any]]) -> None:
    """Raise a UserError naming `path`, the record and the key when a record lacks what is read."""
    for key, adapter in (("images", _IMAGES), ("annotations", _ANNOTATIONS), ("categories", _CATEGORIES)):
        try:
            adapter.validate_python(coco[key])
        except ValidationError as exc:
            error = exc.errors()[0]
            where = key
            for part in error["loc"]:
                where += f"[{part}]" if isinstance(part, int) else f".{part}"
            raise UserError(f"{path}: {where}: {error['msg'].lower()}") from None


def load_coco(path: Path, *, labelled: bool = True) -> dict[str, Any]:
    """A COCO file whose images, annotations and categories hold what is read, each annotation naming
    an image and a category of the file; anything else is a UserError naming the file and the record.

    `labelled=False` also takes a file without `annotations` or `categories` (an unlabelled photo set,
    as COCO's own image_info files are: what adapters and the gap metric need) as having none."""
    try:
        coco = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UserError(f"{path}: not a readable COCO JSON file ({exc})") from None
    if not isinstance(coco, dict):
        raise UserError(f"{path}: expected a COCO object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not labelled and key != "images" and key not in coco:
            coco[key] = []
        if not isinstance(coco.get(key), list):
            raise UserError(f"{path}: {key}: expected a list")
    _check_records(path, coco)
    images, categories = {i["id"] for i in coco["images"]}, {c["id"] for c in coco["categories"]}
    for index, ann in enumerate(coco["annotations"]):
        if ann["image_id"] not in images:
            raise UserError(
                f"{path}: annotations[{index}].image_id: {ann['image_id']} is no image of the file"
            )
        if ann["category_id"] not in categories:
            raise UserError(
                f"{path}: annotations[{index}].category_id: {ann['category_id']} is no category of the file"
            )
    return coco


def coco_file_of(source: Path) -> Path | None:
    """The COCO file `source` is read from: itself, or the annotations.json of a folder that is not a
    scenesmith dataset (a dataset's meta files are its labels); None for any other source."""
    if source.is_file() and source.suffix == ".json":
        return source
    if source.is_dir() and (source / "annotations.json").is_file() and not (source / "meta").is_dir():
        return source / "annotations.json"
    return None
