"""Fixtures shared by the tests. `daemons` starts real processes and kills every one of them at teardown."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.cluster import Daemons
from tests.failure_helpers import Clusters

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell at teardown whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def daemons(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemons]:
    """A registry of the daemons a test starts. At teardown, even after a failure, every one of them is killed
    with its whole process group; when the test failed, their log tails are printed (pytest shows them)."""
    registry = Daemons(tmp_path_factory.mktemp("daemon-logs"))
    try:
        yield registry
    finally:
        reports = request.node.stash.get(_REPORTS, {})
        if any(r.failed for r in reports.values()) and registry.started:
            print(registry.log_tails())
        registry.kill_all()


@pytest.fixture
def clusters(daemons: Daemons, tmp_path: Path) -> Iterator[Clusters]:
    """Clusters of the failure tests (tests/failure_helpers.py), on a fresh ROOTDIR, stopped at teardown."""
    with Clusters(daemons, tmp_path / "root") as made:
        yield made
