"""A backup master's watch on the active one: the election lock detects a master that died, not one that
hangs.

A master that is alive but answers nothing (SIGSTOP, a wedged event loop, swap) keeps its flock, so no backup
would ever take over, and every RegionServer, unable to renew its lease, stops serving. So each backup asks
the active master GetClusterInfo every half second; when no answer came for `hung_after_s`, and the lock
holder is a process of this host, the backup SIGKILLs it (fencing by killing, as clusters have long done): to
everyone else that is a crash, the kernel releases the lock, and a backup takes over as after any death. A
holder on another host cannot be killed from here; the backup then says so in its log, once per period.

Killing is always safe: a master's every decision is durable before it acts, and a successor finishes its
work. The only cost of a wrong verdict (a master merely slow for `hung_after_s`) is a failover.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import grpc
import structlog

from master.election import ElectionLock, Holder
from regent.proto import master_pb2, master_pb2_grpc
from regent.transport import INSECURE, Transport

log = structlog.get_logger("master")

PROBE_INTERVAL_S = 0.5
PROBE_TIMEOUT_S = 1.0


async def watch_active(
    election: ElectionLock,
    hung_after_s: float,
    elected: asyncio.Future[None],
    transport: Transport = INSECURE,
) -> None:
    """Until `elected` is done: kill the active master if it stays silent for `hung_after_s`."""
    channels: dict[str, grpc.aio.Channel] = {}
    last_answer, last_holder = time.monotonic(), Holder("", None, None)
    try:
        while not elected.done():
            await asyncio.sleep(PROBE_INTERVAL_S)
            holder = election.holder()
            if holder != last_holder or not holder.announced:
                # A new holder, or one still starting (it announces itself once elected): its clock restarts.
                last_holder, last_answer = holder, time.monotonic()
                continue
            if await _answers(channels, holder.address, transport):
                last_answer = time.monotonic()
                continue
            silent = time.monotonic() - last_answer
            if silent < hung_after_s or elected.done():
                continue
            _kill(holder, silent)
            last_answer = time.monotonic()
    finally:
        for channel in channels.values():
            await channel.close()


async def _answers(channels: dict[str, grpc.aio.Channel], address: str, transport: Transport) -> bool:
    channel = channels.get(address)
    if channel is None:
        channel = channels[address] = transport.aio_channel(address)
    try:
        await master_pb2_grpc.MasterStub(channel).GetClusterInfo(
            master_pb2.GetClusterInfoRequest(), timeout=PROBE_TIMEOUT_S
        )
    except grpc.aio.AioRpcError:
        return False
    return True


def _kill(holder: Holder, silent: float) -> None:
    if holder.lock_pid is None:
        log.warning(
            "active_master_unresponsive",
            master=holder.address,
            silent_s=round(silent, 1),
            action="it holds the lock from another host: stop it there",
        )
        return
    try:
        os.kill(holder.lock_pid, signal.SIGKILL)
    except ProcessLookupError:
        return  # it died on its own meanwhile: the lock is free
    log.warning("hung_master_killed", master=holder.address, pid=holder.lock_pid, silent_s=round(silent, 1))
