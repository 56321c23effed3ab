"""Master election and failover with real processes (DESIGN.md §7).

The flock on ROOTDIR/master.lock decides which master is active; a backup takes over when the active one dies
or stops; every master that becomes active bumps the epoch in meta.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

import regent
from client import RegentError
from master.daemon import bump_epoch
from master.election import ElectionLock, Holder
from meta import MetaStore
from tests.cluster import Daemons, Master, wait_until

TAKEOVER_TIMEOUT_S = 20.0


def _one_active(masters: list[Master]) -> tuple[Master, Master] | None:
    """(active, backup) once both masters answer and exactly one says it is active and SERVING."""
    infos = [m.info() for m in masters]
    if any(info is None for info in infos):
        return None
    active = [m for m, info in zip(masters, infos, strict=True) if info is not None and info.active]
    if len(active) != 1 or active[0].health() != "SERVING":
        return None
    (backup,) = [m for m in masters if m is not active[0]]
    return active[0], backup


def _assert_backup(master: Master) -> None:
    info = master.info()
    assert info is not None, f"backup {master.name} does not answer\n{master.log_tail()}"
    assert not info.active, f"{master.name} answers active=true while another master holds the lock"
    assert info.master_epoch == 0, f"a backup must not have an epoch, {master.name} has {info.master_epoch}"
    assert master.health() == "NOT_SERVING", f"backup {master.name} health is {master.health()}"
    assert not master.has_event("master_active"), master.log_tail()


def test_backup_takes_over_with_a_higher_epoch_when_the_active_master_is_killed(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    masters = [daemons.master(rootdir), daemons.master(rootdir)]
    active, backup = wait_until(
        lambda: _one_active(masters),
        20,
        "exactly one of two masters to become active",
        context=daemons.log_tails,
    )
    first = active.info()
    assert first is not None and first.active and first.master_epoch == 1 and first.cluster_id
    _assert_backup(backup)

    assert active.kill() == -signal.SIGKILL

    second = backup.wait_active(TAKEOVER_TIMEOUT_S)
    assert second.master_epoch > first.master_epoch
    assert second.cluster_id == first.cluster_id
    assert second.master == backup.address


def test_master_stopped_with_a_signal_exits_zero_and_a_backup_takes_over(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    first = daemons.master(rootdir)
    first_info = first.wait_active()
    backup = daemons.master(rootdir)
    backup.wait_reachable()
    _assert_backup(backup)

    assert first.stop() == 0, first.log_tail()
    assert first.has_event("master_stopped"), first.log_tail()

    second_info = backup.wait_active(TAKEOVER_TIMEOUT_S)
    assert second_info.master_epoch > first_info.master_epoch
    assert second_info.cluster_id == first_info.cluster_id


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_backup_stopped_with_a_signal_exits_zero_and_the_active_master_keeps_serving(
    daemons: Daemons, tmp_path: Path, sig: signal.Signals
) -> None:
    rootdir = tmp_path / "root"
    active = daemons.master(rootdir)
    before = active.wait_active()
    backup = daemons.master(rootdir)
    backup.wait_reachable()
    _assert_backup(backup)

    assert backup.stop(sig=sig) == 0, backup.log_tail()
    assert backup.has_event("master_stopped"), backup.log_tail()

    after = active.info()
    assert after is not None and after.active and after.master_epoch == before.master_epoch
    assert active.health() == "SERVING"


def test_each_restart_on_the_same_rootdir_increments_the_epoch_and_keeps_the_cluster_id(
    daemons: Daemons, tmp_path: Path
) -> None:
    rootdir = tmp_path / "root"
    epochs: list[int] = []
    cluster_ids: set[str] = set()
    # Stopped cleanly, then killed, then stopped: the epoch is durable in meta either way.
    for how in ("stop", "kill", "stop"):
        master = daemons.master(rootdir)
        info = master.wait_active()
        epochs.append(info.master_epoch)
        cluster_ids.add(info.cluster_id)
        if how == "stop":
            assert master.stop() == 0, master.log_tail()
        else:
            assert master.kill() == -signal.SIGKILL
    assert epochs == [1, 2, 3]
    assert len(cluster_ids) == 1 and "" not in cluster_ids, cluster_ids


def test_a_master_whose_epoch_was_overtaken_writes_nothing_more_and_steps_down(
    daemons: Daemons, tmp_path: Path
) -> None:
    """Epoch fencing of meta itself: once another master has bumped the epoch, the old one's next commit
    is refused inside LMDB's write transaction, and the old master steps down (exit 1) rather than carry
    on with memory that meta no longer backs."""
    rootdir = tmp_path / "root"
    master = daemons.master(rootdir)
    before = master.wait_active()
    store = MetaStore.open(rootdir / "meta")  # what a newer master does first: bump the epoch
    try:
        newer = bump_epoch(store)
    finally:
        store.close()
    assert newer == before.master_epoch + 1

    with regent.connect(master.address, timeout=3.0) as conn, pytest.raises(RegentError):
        conn.admin().create_table("t", ["f"], num_regions=4)

    assert master.wait_exit(20) == 1, master.log_tail()
    assert master.has_event("meta_write_failed_stepping_down"), master.log_tail()
    store = MetaStore.open(rootdir / "meta")
    try:
        with store.snapshot() as snap:
            assert snap.count("tables") == 0 and snap.count("regions") == 0
        assert store.epoch == newer
    finally:
        store.close()


def test_the_lock_holder_is_found_with_its_announced_address_and_pid(tmp_path: Path) -> None:
    lock = ElectionLock(tmp_path)
    try:
        assert lock.holder() == Holder("", None, None)
        asyncio.run(lock.acquire())
        assert lock.holder() == Holder("", None, os.getpid())
        assert not lock.holder().announced
        lock.announce(f"127.0.0.1:16000 pid={os.getpid()} epoch=3")
        assert lock.holder() == Holder("127.0.0.1:16000", os.getpid(), os.getpid())
        assert lock.holder().announced
    finally:
        lock.close()
    assert lock.holder().lock_pid is None
