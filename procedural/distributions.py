"""Sampled parameters: every numeric or choice value in a scene rule may be a constant or a distribution.

YAML spellings (one key per mapping, so an artist can read them at a glance):

    3.5                                         constant
    {uniform: [low, high]}
    {normal: {mean: m, std: s}}
    {truncnormal: {mean: m, std: s, low: a, high: b}}
    {loguniform: [low, high]}                  (both > 0)
    {randint: [low, high]}                     (integers, both ends included)
    {choice: [a, b, c]}                        (uniform over values)
    {choice: {values: [a, b], weights: [3, 1]}}

Parsing happens once, at validation; sampling takes the caller's `numpy.random.Generator`, never a
global RNG, so every draw is a pure function of (rules, seed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import truncnorm

SPELLINGS = (
    "a number, or one of {uniform: [low, high]}, {normal: {mean, std}}, "
    "{truncnormal: {mean, std, low, high}}, {loguniform: [low, high]}, {randint: [low, high]}, "
    "{choice: [values...]} or {choice: {values: [...], weights: [...]}}"
)


class Distribution:
    """Base class: something that can be sampled and whose support is known."""

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def support(self) -> tuple[float, float]:
        """Smallest interval containing every possible numeric draw."""
        raise NotImplementedError

    def describe(self) -> Any:
        """JSON form, the same spelling the YAML used (for manifests and hashes)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Distribution):
    value: Any

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def support(self) -> tuple[float, float]:
        return (float(self.value), float(self.value))

    def describe(self) -> Any:
        return self.value


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.uniform(self.low, self.high))

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def describe(self) -> Any:
        return {"uniform": [self.low, self.high]}


@dataclass(frozen=True)
class Normal(Distribution):
    mean: float
    std: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(rng.normal(self.mean, self.std))

    def support(self) -> tuple[float, float]:
        return (-math.inf, math.inf) if self.std > 0 else (self.mean, self.mean)

    def describe(self) -> Any:
        return {"normal": {"mean": self.mean, "std": self.std}}


@dataclass(frozen=True)
class TruncNormal(Distribution):
    mean: float
    std: float
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        if self.std == 0:
            return float(np.clip(self.mean, self.low, self.high))
        a, b = (self.low - self.mean) / self.std, (self.high - self.mean) / self.std
        return float(truncnorm.rvs(a, b, loc=self.mean, scale=self.std, random_state=rng))

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def describe(self) -> Any:
        return {"truncnormal": {"mean": self.mean, "std": self.std, "low": self.low, "high": self.high}}


@dataclass(frozen=True)
class LogUniform(Distribution):
    low: float
    high: float

    def sample(self, rng: np.random.Generator) -> float:
        return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def describe(self) -> Any:
        return {"loguniform": [self.low, self.high]}


@dataclass(frozen=True)
class RandInt(Distribution):
    low: int
    high: int

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.low, self.high + 1))

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def describe(self) -> Any:
        return {"randint": [self.low, self.high]}


@dataclass(frozen=True)
class Choice(Distribution):
    values: tuple[Any, ...]
    weights: tuple[float, ...]

    def sample(self, rng: np.random.Generator) -> Any:
        p = np.asarray(self.weights, dtype=float)
        return self.values[int(rng.choice(len(self.values), p=p / p.sum()))]

    def support(self) -> tuple[float, float]:
        numeric = [float(v) for v in self.values]
        return (min(numeric), max(numeric))

    def describe(self) -> Any:
        return {"choice": {"values": list(self.values), "weights": list(self.weights)}}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _pair(name: str, body: Any, integer: bool = False) -> tuple[float, float]:
    if not (isinstance(body, Sequence) and not isinstance(body, str) and len(body) == 2):
        raise ValueError(f"{{{name}: ...}} expects a list [low, high], got {body!r}")
    low, high = body
    if not (_is_number(low) and _is_number(high)):
        raise ValueError(f"{{{name}: [low, high]}} expects two finite numbers, got {body!r}")
    if integer and not (float(low).is_integer() and float(high).is_integer()):
        raise ValueError(f"{{{name}: [low, high]}} expects two integers, got {body!r}")
    if low > high:
        raise ValueError(f"{{{name}: [low, high]}} has low {low} > high {high}")
    if not math.isfinite(float(high) - float(low)):  # numpy refuses such a span only when it samples
        raise ValueError(f"{{{name}: [low, high]}} spans more than a float can hold, got {body!r}")
    return low, high


def _fields(name: str, body: Any, required: Sequence[str]) -> dict[str, float]:
    if not isinstance(body, dict):
        raise ValueError(f"{{{name}: ...}} expects a mapping with keys {list(required)}, got {body!r}")
    unknown = set(body) - set(required)
    missing = set(required) - set(body)
    if unknown or missing:
        raise ValueError(
            f"{{{name}: ...}} expects exactly the keys {list(required)}"
            + (f"; unknown {sorted(map(str, unknown))}" if unknown else "")
            + (f"; missing {sorted(missing)}" if missing else "")
        )
    for key in required:
        if not _is_number(body[key]):
            raise ValueError(f"{{{name}: {{{key}: ...}}}} expects a finite number, got {body[key]!r}")
    return {k: float(body[k]) for k in required}


def _choice(body: Any, value_check: Callable[[Any], Any]) -> Choice:
    if isinstance(body, dict):
        if set(body) - {"values", "weights"} or "values" not in body:
            raise ValueError(
                f"{{choice: {{...}}}} expects keys 'values' and optional 'weights', got {body!r}"
            )
        values, weights = body["values"], body.get("weights")
    else:
        values, weights = body, None
    if not isinstance(values, list) or not values:
        raise ValueError(f"{{choice: ...}} expects a non-empty list of values, got {values!r}")
    values = [value_check(v) for v in values]
    if weights is None:
        weights = [1.0] * len(values)
    if (
        not isinstance(weights, list)
        or len(weights) != len(values)
        or not all(_is_number(w) and w >= 0 for w in weights)
        or not 0 < sum(weights) < math.inf  # 1e308 + 1e308 overflows: numpy's "do not sum to 1"
    ):
        raise ValueError(
            f"{{choice: ...}} weights must be {len(values)} non-negative numbers with a positive, finite "
            f"sum, got {weights!r}"
        )
    return Choice(tuple(values), tuple(float(w) for w in weights))


def parse_number(
    value: Any,
    *,
    integer: bool = False,
    minimum: float | None = None,
    maximum: float | None = None,
) -> Distribution:
    """Parse a numeric parameter and check that every possible draw lies in [minimum, maximum].

    Raises ValueError whose message says what was expected; the schema layer adds file and key path.
    """
    kind = "an integer" if integer else "a number"

    def check_constant(v: Any) -> Any:
        if not _is_number(v) or (integer and not float(v).is_integer()):
            raise ValueError(
                f"expected {kind}" + (f" in the list, got {v!r}" if isinstance(value, dict) else "")
            )
        return int(v) if integer else float(v)

    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(f"expected {SPELLINGS}; got a mapping with keys {sorted(map(str, value))}")
        ((name, body),) = value.items()
        if name == "uniform" and not integer:
            dist: Distribution = Uniform(*map(float, _pair(name, body)))
        elif name == "loguniform" and not integer:
            low, high = _pair(name, body)
            if low <= 0:
                raise ValueError(f"{{loguniform: [low, high]}} needs low > 0, got {low}")
            dist = LogUniform(float(low), float(high))
        elif name == "normal" and not integer:
            f = _fields(name, body, ("mean", "std"))
            if f["std"] < 0:
                raise ValueError(f"{{normal: ...}} needs std >= 0, got {f['std']}")
            dist = Normal(f["mean"], f["std"])
        elif name == "truncnormal" and not integer:
            f = _fields(name, body, ("mean", "std", "low", "high"))
            if f["std"] < 0 or f["low"] > f["high"] or (f["std"] > 0 and f["low"] == f["high"]):
                raise ValueError(
                    f"{{truncnormal: ...}} needs std >= 0 and low < high (low = high only with std 0), "
                    f"got {body!r}"
                )
            dist = TruncNormal(f["mean"], f["std"], f["low"], f["high"])
        elif name == "randint":
            low, high = _pair(name, body, integer=True)
            dist = RandInt(int(low), int(high))
        elif name == "choice":
            dist = _choice(body, check_constant)
        else:
            allowed = "{randint: [low, high]} or {choice: ...}" if integer else SPELLINGS
            raise ValueError(f"unknown distribution {name!r}; expected {allowed}")
    else:
        dist = Constant(check_constant(value))

    low, high = dist.support()
    for bad, bound, op in (
        (minimum is not None and low < minimum, minimum, ">="),
        (maximum is not None and high > maximum, maximum, "<="),
    ):
        if not bad:
            continue
        if isinstance(dist, Constant):
            raise ValueError(f"expected {kind} {op} {bound}")
        hint = "; a normal distribution is unbounded, use truncnormal" if isinstance(dist, Normal) else ""
        raise ValueError(
            f"every draw must be {op} {bound}, but this distribution can give "
            f"{low if op == '>=' else high}{hint}"
        )
    return dist


def parse_choice(value: Any, value_check: Callable[[Any], Any]) -> Distribution:
    """Parse a categorical parameter: a constant or {choice: ...} over values accepted by value_check."""
    if isinstance(value, dict) and set(value) == {"choice"}:
        return _choice(value["choice"], value_check)
    return Constant(value_check(value))
