"""Carrying a chaos plan out: each action at its time, logged as one JSON line; then healing, convergence
and a summary by kind.

The log (one JSON object per line, `event` says which):

    start       seed, policy, duration, min_live, the initial model (what a replay starts from)
    action      seq, phase ("chaos", or "heal" for the restarts and recommissions at the end), at (the
                planned offset from the start, s), started (the actual offset), took_s, kind, target,
                params, outcome ("ok"; "skipped" when the cluster rightly refused it now, as a split of a
                region whose fold has not finished; "failed"), detail (what it resolved to, or the
                error, or the refusal),
                running_regionservers and in_service_regionservers (running and not decommissioned), by
                the model
    converged   ok, took_s, problem (the last reason it had not, when it did not)
    summary     actions, by_kind {kind: {ok, skipped, failed}}, failed (how many failed), converged,
                seed, policy

A replay from the same seed repeats every action record's (seq, phase, at, kind, target, params); the
rest is what happened.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from regent.chaos.actions import REGISTRY, Outcome, Step, heal
from regent.chaos.cluster import ChaosCluster
from regent.chaos.model import Limits, Model
from regent.chaos.plan import plan
from regent.chaos.policies import Policy

#: The fields of an action record that a replay from the same seed repeats exactly.
REPLAYED = ("seq", "phase", "at", "kind", "target", "params")


@dataclass(frozen=True, slots=True)
class RunConfig:
    seed: int
    policy: Policy
    duration: float
    limits: Limits
    settle_timeout: float = 120.0


@dataclass(slots=True)
class Summary:
    by_kind: dict[str, Counter[str]]
    converged: bool

    @property
    def actions(self) -> int:
        return sum(sum(c.values()) for c in self.by_kind.values())

    @property
    def failed(self) -> int:
        return sum(c["failed"] for c in self.by_kind.values())

    def table(self) -> str:
        """For people: one line per kind."""
        lines = [f"{'action':<26}{'ok':>6}{'skipped':>9}{'failed':>8}"]
        for kind in sorted(self.by_kind):
            counts = self.by_kind[kind]
            lines.append(f"{kind:<26}{counts['ok']:>6}{counts['skipped']:>9}{counts['failed']:>8}")
        lines.append(f"the cluster {'converged' if self.converged else 'did NOT converge'}")
        return "\n".join(lines)


class Runner:
    """One chaos run against `cluster`, from `model`, writing records with `emit`; `stop` ends the chaos
    phase early (Ctrl-C), after which the run still heals and checks convergence."""

    def __init__(
        self,
        cluster: ChaosCluster,
        model: Model,
        config: RunConfig,
        emit: Callable[[dict[str, Any]], None],
        stop: threading.Event | None = None,
    ) -> None:
        self.cluster = cluster
        self.model = model
        self.config = config
        self.emit = emit
        self.stop = stop or threading.Event()
        self.by_kind: dict[str, Counter[str]] = {}
        self._started = 0.0
        self._seq = 0  # the last action's number

    def run(self) -> Summary:
        config = self.config
        self.emit(
            {
                "event": "start",
                "seed": config.seed,
                "policy": config.policy.name,
                "duration_s": config.duration,
                "min_live": config.limits.min_live,
                "model": self.model.describe(),
                "started_at": time.time(),
            }
        )
        self._started = time.monotonic()
        self.cluster.stop = self.stop
        try:
            for planned in plan(config.seed, config.policy, config.duration, self.model, config.limits):
                if self.stop.wait(max(0.0, self._started + planned.at - time.monotonic())):
                    break
                self._carry_out(planned.seq, "chaos", planned.at, planned.step, planned.model)
                self.model = planned.model
        finally:
            self.cluster.resume_all()
        # Healing and the convergence check run even after an interrupted chaos phase.
        self.cluster.stop = threading.Event()
        seq = self._seq
        for step in heal(self.model):
            seq += 1
            after = REGISTRY[step.kind].apply(self.model, step)
            self._carry_out(seq, "heal", None, step, after)
            self.model = after
        ok, took, problem = self.cluster.wait_converged(config.settle_timeout)
        self.emit({"event": "converged", "ok": ok, "took_s": took, "problem": problem})
        summary = Summary(self.by_kind, ok)
        self.emit(
            {
                "event": "summary",
                "actions": summary.actions,
                "by_kind": {
                    k: {"ok": c["ok"], "skipped": c["skipped"], "failed": c["failed"]}
                    for k, c in sorted(self.by_kind.items())
                },
                "failed": summary.failed,
                "converged": ok,
                "seed": config.seed,
                "policy": config.policy.name,
            }
        )
        return summary

    def _carry_out(self, seq: int, phase: str, at: float | None, step: Step, after: Model) -> None:
        self._seq = seq
        started = time.monotonic()
        try:
            outcome = REGISTRY[step.kind].perform(self.cluster, step)
        except Exception as exc:  # a bug or an unforeseen refusal must not end the run: log it
            outcome = Outcome(False, {"error": type(exc).__name__, "message": str(exc)[:500]})
        took = time.monotonic() - started
        self.by_kind.setdefault(step.kind, Counter())[outcome.label] += 1
        self.emit(
            {
                "event": "action",
                "seq": seq,
                "phase": phase,
                "at": at,
                "started": round(started - self._started, 3),
                "took_s": round(took, 3),
                **step.to_json(),
                "outcome": outcome.label,
                "detail": outcome.detail,
                "running_regionservers": len(after.running_regionservers),
                "in_service_regionservers": len(after.in_service),
            }
        )


def replayed(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The part of a run's action records that a replay from the same seed repeats."""
    return [tuple(_freeze(r.get(k)) for k in REPLAYED) for r in records if r.get("event") == "action"]


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


__all__ = ["REPLAYED", "RunConfig", "Runner", "Summary", "replayed"]
