"""Where a small group commit runs: on the event loop while the disk's commits are quick, in one of the
commit threads otherwise (regionserver.data.writer; docs/decisions.md, "Committing on the loop while
fsyncs are quick").

A commit handed to a thread costs two thread wake-ups on top of its fsync: the job to the thread, and its
answer back to the loop. On a virtual machine, waking a thread on another CPU goes through the
hypervisor, and is dear: a one-cell update costs the RegionServer about 180 µs less CPU committed on the
loop than in a thread (docs/benchmarks.md). On the loop, though, the commit blocks every region of the
server until its fsync returns. So a small group is committed on the loop only while

- **the loop's commits are quick**: a commit's own time is taken as the least of the last WINDOW loop
  commits' (on a busy machine most of them take longer, waiting for a CPU after their fsync, which the
  loop would have waited for anyway); once that is above `slow_s` (a slow or busy disk), or a single
  commit took longer than `stall_s`, the groups go to the threads for a back-off: 1 s at first, doubled
  each time the loop's commits are still slow when tried again (at most 30 s), reset once they are quick;
- **and commits take a bounded share of the loop's time**: each loop commit takes its own time from a
  budget that refills at `share` seconds per second, with at most `share` times `window_s` saved up. A
  server that writes more than that commits the rest in threads, where the fsyncs of its regions
  overlap instead of queueing one behind another on the loop.

Only the loop's own small commits are timed: their time is the fsync's and little else, where a thread's
commit waits for the GIL too, and would look slow on a busy server whatever the disk.

What the loop gives up is isolation: a commit that waits, waits for the whole server. A region's store is
written only by its owner, and another process takes its LMDB writer lock only briefly (a new owner's
claim, a fenced old owner's refused commit); but one stopped while holding it (SIGSTOP, a frozen VM) would
stall every region of this server until it resumed or died, where a thread would have stalled only that
region. A RegionServer started with `--small-commits thread` commits every small group in a thread
(`allow_loop(False)`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

#: Loop commits whose least time is above this send the groups to the threads for a while.
SLOW_S = 0.002
#: A single loop commit longer than this does so at once.
STALL_S = 0.05
#: How many of the last loop commits the least is taken of.
WINDOW = 8
#: The share of the loop's time that commits may take.
SHARE = 0.2
#: How much unused budget is saved up, in seconds of the loop's time at `SHARE`.
WINDOW_S = 0.5
#: The first back-off, and the longest.
BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0


class CommitPlacement:
    """Decides, group by group, whether a small commit runs on the loop (see the module's doc), and
    counts where they ran. Used on the event loop's thread only."""

    def __init__(
        self,
        *,
        slow_s: float = SLOW_S,
        stall_s: float = STALL_S,
        share: float = SHARE,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 <= slow_s <= stall_s or not 0 <= share <= 1 or window_s <= 0:
            raise ValueError(
                f"slow_s {slow_s} must be >= 0 and <= stall_s {stall_s}, share {share} in [0, 1], "
                f"window_s {window_s} > 0"
            )
        self._slow_s = slow_s
        self._stall_s = stall_s
        self._share = share
        self._cap = share * window_s
        self._clock = clock
        self._budget = self._cap
        self._at = clock()
        self._recent: deque[float] = deque(maxlen=WINDOW)
        self._threads_until = float("-inf")
        self._backoff = BACKOFF_S
        self._loop_allowed = True
        #: Small groups committed on the loop, and in threads, so far (regionserver.metrics).
        self.on_loop_commits = 0
        self.in_thread_commits = 0

    def allow_loop(self, allowed: bool) -> None:
        """Whether small groups may be committed on the loop at all (`--small-commits auto|thread`)."""
        self._loop_allowed = allowed

    def on_loop(self) -> bool:
        """Whether the next small group is committed on the loop; counted as so."""
        now = self._refill()
        if self._loop_allowed and now >= self._threads_until and self._budget > 0:
            self.on_loop_commits += 1
            return True
        self.in_thread_commits += 1
        return False

    def took(self, seconds: float) -> None:
        """A small group committed on the loop took `seconds` (its commit, fsync included)."""
        now = self._refill()
        recent = self._recent
        recent.append(seconds)
        own = min(recent)
        self._budget -= own
        full = len(recent) == recent.maxlen
        if seconds > self._stall_s or (full and own > self._slow_s):
            self._threads_until = now + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF_S)
            recent.clear()  # judged afresh when tried again
        elif full:
            self._backoff = BACKOFF_S

    def _refill(self) -> float:
        now = self._clock()
        self._budget = min(self._cap, self._budget + (now - self._at) * self._share)
        self._at = now
        return now


#: The process's placement: its regions share the disk, and the loop.
PLACEMENT = CommitPlacement()
#: The placement of the server's write-ahead log appends (regionserver.data.server_wal): a budget and
#: counters of their own, the same rule.
LOG_PLACEMENT = CommitPlacement()
