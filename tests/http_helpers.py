"""Reaching a daemon's HTTP side in tests: its URL (from its http_started log line), GET, /metrics parsed
with prometheus_client's own parser."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.cluster import Daemon, wait_until


def http_url(daemon: Daemon, timeout: float = 20.0) -> str:
    """The base URL ("http://127.0.0.1:PORT") of a daemon's status pages, once it has logged it."""

    def logged() -> str | None:
        for event in daemon.events():
            if event.get("event") == "http_started":
                return str(event["url"]).rstrip("/")
        return None

    return wait_until(logged, timeout, f"{daemon.name} to serve HTTP", context=daemon.log_tail)


def get(url: str, timeout: float = 10.0, headers: dict[str, str] | None = None) -> tuple[int, str]:
    """(status, body) of a GET; an HTTP error status is returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def get_json(url: str, timeout: float = 10.0) -> Any:
    status, body = get(url, timeout)
    assert status == 200, f"GET {url}: {status} {body[:500]}"
    return json.loads(body)


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of base/metrics: (name, sorted labels) -> value, parsed by prometheus_client."""
    status, body = get(f"{base}/metrics")
    assert status == 200, f"/metrics answered {status}: {body[:300]}"
    samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    """One sample's value (0 if absent: a labelled counter appears at its first increment)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)
