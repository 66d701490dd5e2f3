"""Settings of the training-free adapters: `--option KEY=VALUE` in, adapter.json back out.

Why refuse unknown keys: a typo (`--option bta=0.05`) would otherwise fit the default silently, and
the user would benchmark an adapter they did not ask for. Why check the version on load: an
adapter.json from an older layout would otherwise load with missing or misread fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from scenesmith.domain_adapt.adapter import ADAPTER_FILE
from scenesmith.errors import UserError


def numeric_options(
    method: str, given: Mapping[str, object], defaults: Mapping[str, float]
) -> dict[str, float]:
    """`defaults` overridden by `given`; UserError naming the option for an unknown key or a non-number."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise UserError(f"--option {unknown[0]}: not a {method} setting; expected one of {sorted(defaults)}")
    values = dict(defaults)
    for key, value in given.items():
        try:
            values[key] = float(value)
        except (TypeError, ValueError):
            raise UserError(f"--option {key}={value!r}: expected a number") from None
    return values


def check_range(method: str, key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise UserError(f"--option {key}={value}: {method} expects a number in [{low}, {high}]")


def read_record(folder: Path, method: str, version: int) -> dict:
    """adapter.json of `folder`, checked to be `method` at `version`."""
    record = json.loads((folder / ADAPTER_FILE).read_text())
    if (record.get("method"), record.get("version")) != (method, version):
        raise UserError(
            f"{folder / ADAPTER_FILE}: {record.get('method')} adapter version {record.get('version')!r}; "
            f"this scenesmith reads {method} version {version} (refit it with `scenesmith adapt train`)"
        )
    return record
