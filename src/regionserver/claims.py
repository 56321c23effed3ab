"""The store claims of open orders, carried out in worker threads while the event loop keeps serving.

An open of a region whose store exists claims the store (regionserver.store.Stores.claim: the LMDB
environment opened, the owner record committed with an fsync, REFERENCES read, the parents sealed). About
0.7 ms each on a quiet machine, far more on a loaded one: a mover's order of a thousand such regions held
the event loop, and the heartbeats with it, for seconds (bench rolling-restart lost leases so). Here the
claims Hosting accepted (`Hosting.take_claims`) run in a small pool of threads, in batches; each batch's
results go back to Hosting on the loop as it completes (`Hosting.claimed`: OPENED or FAILED_OPEN joins the
outbox, the reports task is woken), so a big order is reported piece by piece. The claim's cost is mostly
its fsync and LMDB's open, during which the GIL is free: the loop keeps answering heartbeats and data calls,
and the fsyncs of several batches overlap (docs/decisions.md has the figures).

What must run on the loop runs there, after the batch: a child's fold starts (Stores.opened), stores of
stale claims (the region closed or reopened meanwhile) and of failed ones are closed, and the environments
the threads left open beyond the LRU's bound are closed (Environments.trim): threads never close one.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Callable, Sequence

import structlog

from regionserver import metrics as rs_metrics
from regionserver.hosting import HostedRegion, Hosting, OpenFailed
from regionserver.store import Stores

log = structlog.get_logger("regionserver.claims")

#: Worker threads: the fsyncs of that many batches overlap (measured in docs/decisions.md: on a loaded
#: machine a claim's fsync waits ~8 ms, and 8 threads did 1,000 claims in 0.8-1.8 s against 0.9-4.3 s with 4).
CLAIM_THREADS = 8
#: Regions per batch: outcomes are reported per batch, and the loop's share of the work (results, stale
#: closes, trimming the LRU) comes in pieces this size.
CLAIM_BATCH = 50

Results = list[tuple[HostedRegion, OpenFailed | None]]


class Claims:
    """Carries out Hosting's claims off the event loop; `on_results` is called on the loop after each batch
    (the daemon wakes its reports task)."""

    def __init__(
        self,
        hosting: Hosting,
        stores: Stores,
        on_results: Callable[[], None],
        *,
        threads: int = CLAIM_THREADS,
        batch: int = CLAIM_BATCH,
    ) -> None:
        self.hosting = hosting
        self.stores = stores
        self.on_results = on_results
        self.batch = batch
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="region-claims")
        self._orders: set[asyncio.Task[None]] = set()

    def start(self) -> int:
        """Start the claims Hosting accepted since the last call (on the event loop, after open_many);
        return how many."""
        regions = self.hosting.take_claims()
        if regions:
            task = asyncio.get_running_loop().create_task(self._claim(regions), name="region-claims")
            self._orders.add(task)  # a reference until it is done: the loop keeps only weak ones
            task.add_done_callback(self._orders.discard)
        return len(regions)

    @property
    def in_flight(self) -> int:
        """Orders whose claims are not all done yet."""
        return len(self._orders)

    async def settled(self) -> None:
        """Return once every order started so far has all its claims' results applied."""
        while self._orders:
            await asyncio.gather(*self._orders, return_exceptions=True)

    async def _claim(self, regions: Sequence[HostedRegion]) -> None:
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        batches = [
            loop.run_in_executor(self._pool, self._claim_batch, regions[at : at + self.batch])
            for at in range(0, len(regions), self.batch)
        ]
        opened = failed = stale = 0
        pending: set[asyncio.Future[Results]] = set(batches)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for batch in done:
                if batch.cancelled():
                    continue  # not started when the pool was shut down (the server stops): dropped already
                o, f, s = self._apply(batch.result())
                opened, failed, stale = opened + o, failed + f, stale + s
        log.info(
            "region_stores_claimed",
            regions=len(regions),
            opened=opened,
            failed=failed,
            stale=stale,
            seconds=round(time.monotonic() - started, 3),
        )

    def _claim_batch(self, regions: Sequence[HostedRegion]) -> Results:
        """In a worker thread: claim each region's store. Whatever goes wrong fails that region's open
        only (reported FAILED_OPEN): a batch must always come back, or its regions would stay claiming."""
        results: Results = []
        for region in regions:
            try:
                failed = self.stores.claim(region)
            except Exception as exc:  # not a StoreError: an LMDB or OS error the store did not expect
                log.error("region_claim_crashed", region=region.region_id, error=repr(exc))
                region.store = None
                failed = OpenFailed(f"the claim of region {region.region_id}'s store failed: {exc!r}")
            results.append((region, failed))
        return results

    def _apply(self, results: Results) -> tuple[int, int, int]:
        """On the event loop: a batch's results to Hosting, then what must happen on the loop."""
        opened, stale = self.hosting.claimed(results)
        for region in opened:
            self.stores.opened(region)
        for region in stale:  # claimed, but closed or reopened meanwhile: the claim must not resurrect it
            assert region.store is not None
            region.store.close()
            region.store = None
        failed = [region for region, why in results if why is not None]
        for region in failed:
            self.stores.close_failed(region)
        self.stores.trim_environments()
        rs_metrics.FAILED_OPENS.inc(len(failed))
        self.on_results()
        return len(opened), len(failed), len(stale)

    async def stop(self) -> None:
        """Cancel the batches not started, wait for those running; their results, stale by then (the
        server dropped its regions first), close the stores they claimed."""
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        if self._orders:
            await asyncio.gather(*self._orders, return_exceptions=True)
