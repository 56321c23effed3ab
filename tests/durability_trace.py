"""Reading an `strace -f -y` log: was every write to an LMDB environment's data file durable before the
acknowledgement that followed it? (tests/test_durability.py)

A write (write, pwrite64, writev, pwritev, pwritev2) to `data.mdb` is durable once it is done on a
descriptor opened with O_DSYNC or O_SYNC, or once an fsync/fdatasync of that file (any descriptor of it)
completes after it, or an msync completes after it (LMDB's writemap mode, where pages are memory). An
acknowledgement is a write of b"ACK <n>" to stdout. The verdict lists every acknowledgement that some
earlier write was still not durable at, and counts acknowledgements and writes (a run that wrote nothing
proves nothing; several acknowledgements may follow one group commit). The runs start on a new directory, so
the environment's data file is new: its directory must have been fsynced before the first acknowledgement,
or a power cut could lose the file's entry and with it every acknowledged write.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STRACE_CALLS = "openat,close,write,pwrite64,writev,pwritev,pwritev2,fsync,fdatasync,msync"
_WRITES = frozenset({"write", "pwrite64", "writev", "pwritev", "pwritev2"})
_SYNCS = frozenset({"fsync", "fdatasync"})
_LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<call>.*)$")
_RESUMED = re.compile(r"^<\.\.\. (?P<name>\w+) resumed>(?P<rest>.*)$")
_CALL = re.compile(r"^(?P<name>\w+)\((?P<args>.*)\)\s+=\s+(?P<ret>-?\d+)(?P<retpath><[^>]*>)?")
_FD = re.compile(r"^(?P<fd>\d+)<(?P<path>[^>]*)>")
_ACK = re.compile(r'"ACK (\d+)\\n"')


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: str
    ret: int
    retpath: str


def calls(log: str) -> list[Call]:
    """The completed system calls of the log, in order of completion (an unfinished call is placed where
    it resumed: a sync counts from the moment it returned)."""
    pending: dict[str, str] = {}
    out: list[Call] = []
    for line in log.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        pid, text = match["pid"], match["call"]
        if text.endswith("<unfinished ...>"):
            pending[pid] = text[: -len("<unfinished ...>")].rstrip()
            continue
        resumed = _RESUMED.match(text)
        if resumed:
            text = pending.pop(pid, resumed["name"] + "(") + resumed["rest"]
        call = _CALL.match(text)
        if call:
            out.append(Call(call["name"], call["args"], int(call["ret"]), (call["retpath"] or "")[1:-1]))
    return out


@dataclass
class Verdict:
    acks: int = 0
    writes: int = 0
    problems: list[str] = field(default_factory=list)


def check(log: str, data_file: str = "data.mdb") -> Verdict:
    """Check that every acknowledgement in `log` came after every earlier write to `data_file` was durable."""
    verdict = Verdict()
    sync_fds: set[int] = set()  # descriptors of the data file opened O_DSYNC / O_SYNC
    undurable: list[str] = []  # writes to the data file not yet made durable
    directory = ""  # the data file's directory: a new environment's entry must be synced in it
    directory_synced = False
    for call in calls(log):
        if call.ret < 0:
            continue
        if call.name == "openat" and call.retpath.endswith("/" + data_file):
            directory = call.retpath.rsplit("/", 1)[0]
            if re.search(r"\bO_(D)?SYNC\b", call.args):
                sync_fds.add(call.ret)
            else:
                sync_fds.discard(call.ret)
            continue
        fd = _FD.match(call.args)
        if call.name == "close":
            if fd:
                sync_fds.discard(int(fd["fd"]))
            continue
        if call.name == "msync":
            undurable.clear()
            continue
        if fd is None:
            continue
        if call.name in _WRITES:
            ack = _ACK.search(call.args)
            if ack:
                verdict.acks += 1
                if directory and not directory_synced:
                    verdict.problems.append(f"ACK {ack[1]} before the new {data_file}'s directory was synced")
                    directory_synced = True  # said once
                if undurable:
                    verdict.problems.append(f"ACK {ack[1]} while not durable: {'; '.join(undurable[:3])}")
                    undurable.clear()
                elif not verdict.writes:
                    verdict.problems.append(f"ACK {ack[1]} before any write to {data_file}")
            elif fd["path"].endswith("/" + data_file):
                verdict.writes += 1
                if int(fd["fd"]) not in sync_fds:
                    where = call.args.rsplit(",", 1)[-1].strip()  # the offset, for the positional writes
                    undurable.append(f"{call.name} of {call.ret} bytes on fd {fd['fd']} at {where}")
        elif call.name in _SYNCS and fd["path"].endswith("/" + data_file):
            undurable.clear()
        elif call.name == "fsync" and directory and fd["path"] == directory:
            directory_synced = True
    return verdict
