"""The benchmark's arms as plain data: what each trains on, where it starts, what it validates on.

Why plain data: the runner, the report and the tests all need the same list, and an arm's identity
(name, seed) is also its checkpoint folder, which is what makes a killed run resumable.
"""

from __future__ import annotations

from dataclasses import dataclass

SWEEP_FRACTIONS = (0.01, 0.05, 0.10, 0.25, 0.50, 1.0)


@dataclass(frozen=True)
class Arm:
    """One arm. source: 'real', 'synthetic', 'control' or 'adapted:<tag>' (synthetic set passed
    through the adapter named <tag>).

    pretrained: the arm whose best weights (same seed) this one starts from.
    teacher: the arm whose best weights (same seed) label the real pool images this arm's draw leaves
    unlabelled, which it trains on beside its draw (`pseudo_labels.py`).
    """

    name: str
    source: str
    real_fraction: float = 0.0
    pretrained: str | None = None
    family: str = "headline"
    teacher: str | None = None

    @property
    def uses_real(self) -> bool:
        return self.real_fraction > 0

    @property
    def waits_for(self) -> str | None:
        """The arm whose run (same seed) must finish first: the teacher, whose own run waits for its
        pretraining, else the pretraining."""
        return self.teacher or self.pretrained


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}"


def real_arm(fraction: float, family: str = "headline") -> Arm:
    return Arm(f"real_{_percent(fraction)}", "real", fraction, None, family)


def finetune_arm(fraction: float, family: str = "headline") -> Arm:
    return Arm(f"synthetic_to_{_percent(fraction)}", "real", fraction, "synthetic_only", family)


def self_train_arm(fraction: float) -> Arm:
    """Synthetic → the fraction's draw plus the rest of the pool, pseudo-labelled by synthetic → fraction."""
    teacher = finetune_arm(fraction)
    return Arm(f"{teacher.name}_selftrain", "real", fraction, "synthetic_only", "selftrain", teacher.name)


SYNTHETIC_ONLY = Arm("synthetic_only", "synthetic")
CONTROL_ONLY = Arm("control_only", "control", family="control")


def adapted_arms(tag: str, fraction: float) -> list[Arm]:
    """Adapted synthetic-only, and its fine-tune on the headline fraction: each adapter vs none."""
    only = Arm(f"adapted_{tag}_only", f"adapted:{tag}", family="adapted")
    return [only, Arm(f"adapted_{tag}_to_{_percent(fraction)}", "real", fraction, only.name, "adapted")]


def is_adapted_only(arm_name: str) -> bool:
    """Whether this is an adapter's synthetic-only arm (`adapted_arms` names it adapted_<tag>_only)."""
    return arm_name.startswith("adapted_") and arm_name.endswith("_only")


def is_pretraining(arm_name: str) -> bool:
    """Whether fine-tunes start from this arm's weights: synthetic-, control- or adapted-only."""
    return arm_name in (SYNTHETIC_ONLY.name, CONTROL_ONLY.name) or is_adapted_only(arm_name)


def plan(
    control: bool,
    sweep: bool,
    headline_fraction: float = 0.10,
    adapters: tuple[str, ...] = (),
    self_train: bool = False,
) -> list[Arm]:
    """Arms in the order they run: pretrainings first, since every fine-tune of a seed starts from them."""
    arms = [
        SYNTHETIC_ONLY,
        real_arm(1.0),
        real_arm(headline_fraction),
        finetune_arm(headline_fraction),
        finetune_arm(1.0),
    ]
    if self_train:
        arms.append(self_train_arm(headline_fraction))
    if control:
        arms += [
            CONTROL_ONLY,
            Arm(
                f"control_to_{_percent(headline_fraction)}",
                "real",
                headline_fraction,
                "control_only",
                "control",
            ),
        ]
    for tag in adapters:
        arms += adapted_arms(tag, headline_fraction)
    if sweep:
        for fraction in SWEEP_FRACTIONS:
            arms += [real_arm(fraction, "sweep"), finetune_arm(fraction, "sweep")]
    # Each arm once: at a headline fraction of 100% real_100 is both the denominator and the headline, and
    # listed twice its seeds were run and counted twice (a confidence interval 2.6× too narrow).
    unique: dict[str, Arm] = {}
    for arm in arms:
        unique.setdefault(arm.name, arm)
    return list(unique.values())
