"""The background-work part of the master's status page and /status.json: for the balancer, the normalizer
and the catalog janitor, the switch, the period, the last run and its outcome in one line; and the split
and merge switches. Reads the master's memory only (what each chore kept of its last run)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from master.active import ActiveMaster
    from master.chores.balancer import BalancerRun
    from master.chores.hbck import CheckReport
    from master.chores.normalizer import NormalizerRun


def chores_document(active: ActiveMaster) -> dict[str, Any]:
    chores = active.chores
    switches = chores.switches.now
    balancer, normalizer, janitor = chores.balancer, chores.normalizer, chores.janitor
    return {
        "balancer": {
            "on": switches.balancer_on,
            "period_s": balancer.config.period_s,
            "slop": balancer.config.slop,
            "running": balancer.running,
            "last_run": _balancer_run(balancer.last_run) if balancer.last_run else None,
        },
        "normalizer": {
            "on": switches.normalizer_on,
            "period_s": normalizer.config.period_s,
            "max_plans": normalizer.config.limits.max_plans,
            "max_merge_regions": normalizer.config.limits.max_merge_regions,
            "last_run": _normalizer_run(normalizer.last_run) if normalizer.last_run else None,
        },
        "catalog_janitor": {
            "on": switches.catalog_janitor_on,
            "period_s": janitor.period_s,
            "last_run": _janitor_report(janitor.last) if janitor.last else None,
        },
        "split_on": switches.split_on,
        "merge_on": switches.merge_on,
    }


def _balancer_run(run: BalancerRun) -> dict[str, Any]:
    p = run.progress
    if not run.ran and not run.servers:  # stopped before looking at the cluster
        outcome = f"skipped: {run.reason}"
    elif not run.planned:
        outcome = f"nothing to move: {run.reason}"
    else:
        state = "finished" if run.finished_ms else "moving"
        outcome = (
            f"{state}: {p.done} of {run.planned} moves done, {p.failed + p.left} failed or left "
            f"(cost {run.cost_before:.4g} -> {run.cost_after:.4g}); {run.reason}"
        )
    return {
        "started_ms": run.started_ms,
        "finished_ms": run.finished_ms,
        "trigger": "period" if run.trigger else "operator",
        "ran": run.ran,
        "planned": run.planned,
        "moves_done": p.done,
        "moves_failed": p.failed + p.left,
        "outcome": outcome,
        "ok": not (p.failed or p.left),
    }


def _normalizer_run(run: NormalizerRun) -> dict[str, Any]:
    failed = sum(1 for p in run.plans if p.error)
    if not run.ran:
        outcome = f"skipped: {run.reason}"
    else:
        outcome = f"{run.submitted} of {len(run.plans)} plans submitted"
        if failed:
            outcome += f", {failed} refused (first: {next(p.error for p in run.plans if p.error)})"
        outcome += f"; {run.reason}"
    return {
        "started_ms": run.started_ms,
        "finished_ms": run.finished_ms,
        "trigger": "period" if run.trigger else "operator",
        "ran": run.ran,
        "plans": len(run.plans),
        "submitted": run.submitted,
        "splits": sum(1 for p in run.plans if p.kind == "split"),
        "merges": sum(1 for p in run.plans if p.kind == "merge"),
        "outcome": outcome,
        "ok": not failed,
    }


def _janitor_report(report: CheckReport) -> dict[str, Any]:
    kinds = Counter(f.finding.kind.value for f in report.findings)
    parents = report.parents
    removed = len(parents.removed) if parents else 0
    kept = len(parents.kept) if parents else 0
    found = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
    outcome = f"{len(report.findings)} inconsistencies ({found})" if report.findings else "consistent"
    outcome += f"; {removed} split/merge parents removed, {kept} kept"
    if parents and parents.error:
        outcome += f"; {parents.error}"
    return {
        "started_ms": report.started_ms,
        "trigger": "period" if report.trigger else "operator",
        "ms": report.ms,
        "regions": report.regions,
        "findings": dict(kinds),
        "parents_removed": removed,
        "parents_kept": kept,
        "outcome": outcome,
        "ok": not report.findings and not (parents and parents.error),
    }
