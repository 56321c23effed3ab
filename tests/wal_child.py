"""Child process of tests/test_wal_fencing.py: the owner of a RegionServer's log, appending until fenced.

    python tests/wal_child.py DIR SEGMENT_BYTES REFUSALS

Creates the log in DIR (ServerLog, rolled every SEGMENT_BYTES) and appends batches of three edits, two of
region R and one of R2, each edit of R named by its key b"edit-<n>". After each append it prints, in one
write per line: `ACK <n> <seq>` for an acknowledged edit of R, `REFUSED <n>` for a refused one. R2 is never
sealed: a refusal of it exits with status 3. Exits 0 after REFUSALS refused edits of R.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import structlog

from regionserver.data.wal import Edit, ServerLog

R, R2 = b"R", b"R2"
#: A bound on the loop, should the test never seal: the test's timeout would fire first anyway.
MAX_BATCHES = 1_000_000


def main() -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: the answers
    directory, segment_bytes, refusals = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    log = ServerLog.create(directory, segment_bytes=segment_bytes)
    refused = 0
    for batch in range(MAX_BATCHES):
        a, b = 2 * batch, 2 * batch + 1
        edits = [
            Edit(R, ((0, b"edit-%d" % a, b"v" * (a % 17)),)),
            Edit(R2, ((1, b"other-%d" % batch, None),)),
            Edit(R, ((0, b"edit-%d" % b, None),)),
        ]
        seqs = log.append(edits)
        if seqs[1] is None:
            sys.exit(3)
        lines = []
        for n, seq in ((a, seqs[0]), (b, seqs[2])):
            if seq is None:
                refused += 1
                lines.append(b"REFUSED %d\n" % n)
            else:
                lines.append(b"ACK %d %d\n" % (n, seq))
        for line in lines:
            os.write(1, line)
        if refused >= refusals:
            break
    log.close()


if __name__ == "__main__":
    main()
