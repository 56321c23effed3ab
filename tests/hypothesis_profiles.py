"""Hypothesis profiles of the suite, chosen by REGENT_HYPOTHESIS_PROFILE (tests/conftest.py loads one).

- `deterministic` (the default, `make test`): derandomized, so every run, local or CI, replays the same
  examples and a red run is red again on replay. Hypothesis' own "ci" profile (loaded when CI=true) is not
  used: it would make CI and a developer's run differ.
- `explore` (`make test-all`): random examples, EXAMPLES_SCALE times as many, seeded by the run's
  --hypothesis-seed (the Makefile picks one and prints it) and printing the failing example's blob, so any
  failure can be replayed with `make test-all HYPOTHESIS_SEED=<seed>` or `@reproduce_failure`.

A test that sets its own `max_examples` passes it through `examples(n)`, so that `explore` scales it too.
"""

from __future__ import annotations

import os

from hypothesis import settings

PROFILE_VARIABLE = "REGENT_HYPOTHESIS_PROFILE"
DETERMINISTIC = "deterministic"
EXPLORE = "explore"
#: How many times more examples the explore profile runs than the deterministic one.
EXAMPLES_SCALE = 10
_BASE_EXAMPLES = 100  # hypothesis' default max_examples

settings.register_profile(DETERMINISTIC, derandomize=True, database=None, print_blob=True)
settings.register_profile(
    EXPLORE, derandomize=False, max_examples=_BASE_EXAMPLES * EXAMPLES_SCALE, print_blob=True
)


def selected() -> str:
    """The profile named by REGENT_HYPOTHESIS_PROFILE (deterministic when unset); ValueError if unknown."""
    name = os.environ.get(PROFILE_VARIABLE, DETERMINISTIC)
    if name not in (DETERMINISTIC, EXPLORE):
        raise ValueError(f"{PROFILE_VARIABLE}={name!r}: expected {DETERMINISTIC!r} or {EXPLORE!r}")
    return name


def examples(n: int) -> int:
    """`n` examples under the deterministic profile, EXAMPLES_SCALE * n under explore."""
    return n * EXAMPLES_SCALE if selected() == EXPLORE else n
