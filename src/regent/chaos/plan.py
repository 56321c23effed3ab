"""The schedule of a chaos run: seed, policy, duration and the initial model give the timed actions.

Pure, and the only user of the random generator: each action's time (offset from the start), kind,
target and parameters come from `random.Random(seed)` and the model, which only the plan's own choices
change. The same inputs give the same plan on any machine, whatever happens to the cluster meanwhile;
`regent chaos --dry-run` prints it without acting.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from regent.chaos.actions import REGISTRY, Step
from regent.chaos.model import Limits, Model
from regent.chaos.policies import Policy


@dataclass(frozen=True, slots=True)
class Planned:
    """Action number `seq` (from 1), due `at` seconds after the start; `model` is the model after it."""

    seq: int
    at: float
    step: Step
    model: Model


def plan(seed: int, policy: Policy, duration: float, model: Model, limits: Limits) -> Iterator[Planned]:
    """The actions due before `duration` seconds. A moment at which no kind of the policy is eligible
    passes without an action (its time is still drawn, so later choices do not shift)."""
    rng = random.Random(seed)
    at = 0.0
    seq = 0
    while True:
        at = round(at + rng.uniform(*policy.interval_s), 3)
        if at >= duration:
            return
        kinds = [(kind, weight) for kind, weight in policy.weights if REGISTRY[kind].eligible(model, limits)]
        if not kinds:
            continue
        (kind,) = rng.choices([k for k, _ in kinds], weights=[w for _, w in kinds])
        action = REGISTRY[kind]
        step = action.choose(rng, model)
        model = action.apply(model, step)
        seq += 1
        yield Planned(seq, at, step, model)


__all__ = ["Planned", "plan"]
