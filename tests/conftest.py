"""Fixtures shared by the tests. `daemons` starts real processes and kills every one of them at teardown;
`processes` does the same for plain child processes; at the end of the session, the run fails if any child
process of it (or a non-daemon thread) is still alive. The hypothesis profile is chosen here
(tests/hypothesis_profiles.py)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from regent import supervise, tls
from tests import hypothesis_profiles
from tests.cluster import Daemons, make_test_certs, wait_until
from tests.failure_helpers import Clusters
from tests.processes import (
    ProcessGroups,
    become_subreaper,
    command_line,
    kill_proc,
    leftover_children,
    leftover_threads,
)

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
#: How long processes killed at the very end get to disappear before they count as left behind
#: (REGENT_LEFTOVER_GRACE_S overrides it: tests/test_suite_guards.py's inner run).
LEFTOVER_GRACE_S = float(os.environ.get("REGENT_LEFTOVER_GRACE_S", "2.0"))

settings.load_profile(hypothesis_profiles.selected())


def pytest_configure(config: pytest.Config) -> None:
    # Orphans of our children (a supervisor killed before its daemons) are re-parented to the test run
    # rather than to init, so the session-end check still sees them.
    become_subreaper()
    own_ports_per_worker()


def own_ports_per_worker() -> None:
    """In a parallel run (pytest-xdist: `make test` runs two workers), give each worker its own share
    of the range free_ports chooses from, inherited by the daemons and benchmarks it starts: two workers
    then never choose the same port (one could otherwise take a port the other's daemon is about to
    restart on)."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    bounds = supervise.port_range()
    if not worker.startswith("gw") or bounds is None:
        return
    index, workers = int(worker[2:]), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    low, high = bounds
    share = (high - low + 1) // max(workers, 1)
    os.environ[supervise.PORT_RANGE_ENV] = f"{low + index * share}-{low + (index + 1) * share - 1}"


def pytest_report_header(config: pytest.Config) -> str:
    seed = config.getoption("hypothesis_seed", None)
    return f"hypothesis profile: {hypothesis_profiles.selected()}, seed: {seed if seed is not None else '-'}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell at teardown whether the test failed;
    under the explore profile, say on each failure how to replay the run's examples."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    seed = item.config.getoption("hypothesis_seed", None)
    if report.failed and hypothesis_profiles.selected() == hypothesis_profiles.EXPLORE:
        replay = f"make test-all HYPOTHESIS_SEED={seed}" if seed is not None else "see the blob above"
        report.sections.append(("hypothesis", f"profile explore, seed {seed}; replay: {replay}"))
    return report


@pytest.fixture(scope="session", autouse=True)
def cluster_certs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Secure by default, as in production: one CA and its certificates for the whole session, in
    $REGENT_CERTS_DIR, which every daemon the tests start and every SDK connection read (tests/cluster.py).
    A test that needs plain text says so (Cluster(insecure=True), --insecure, insecure=True)."""
    certs = make_test_certs(tmp_path_factory.mktemp("certs") / "certs")
    previous = os.environ.get(tls.CERTS_ENV)
    os.environ[tls.CERTS_ENV] = str(certs)
    try:
        yield certs
    finally:
        if previous is None:
            os.environ.pop(tls.CERTS_ENV, None)
        else:
            os.environ[tls.CERTS_ENV] = previous


@pytest.fixture(scope="session", autouse=True)
def no_process_or_thread_left_behind() -> Iterator[None]:
    """Fail the run if, once every test and fixture is done, a child process of the run (however deep,
    orphans included) or a non-daemon thread is still alive. Leftover processes are killed on the way."""
    yield
    with contextlib.suppress(AssertionError):  # judged just below
        wait_until(lambda: not leftover_children(), LEFTOVER_GRACE_S, "no child process left", interval=0.05)
    problems = []
    procs = leftover_children()
    if procs:
        problems.append(
            "child processes left behind by the tests:\n"
            + "\n".join(f"pid {p.pid}: {command_line(p.pid)}" for p in procs)
        )
        for proc in procs:
            kill_proc(proc)
    threads = leftover_threads()
    if threads:
        problems.append(f"non-daemon threads left behind by the tests: {threads}")
    assert not problems, "\n".join(problems)


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
def processes() -> Iterator[ProcessGroups]:
    """Child processes a test starts (`processes.popen(argv, ...)`): at teardown, even after a failure or a
    timeout, each one's whole tree is SIGKILLed from the test side and reaped."""
    groups = ProcessGroups()
    try:
        yield groups
    finally:
        groups.kill_all()


@pytest.fixture
def clusters(daemons: Daemons, tmp_path: Path) -> Iterator[Clusters]:
    """Clusters of the failure tests (tests/failure_helpers.py), on a fresh ROOTDIR, stopped at teardown."""
    with Clusters(daemons, tmp_path / "root") as made:
        yield made
