"""Every thread's stack and every asyncio task of this process, as text (ground): the /stacks page."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import traceback


def dump() -> str:
    """Threads first (with their names), then the running loop's tasks with their coroutine stacks."""
    out = io.StringIO()
    names = {t.ident: t.name for t in threading.enumerate()}
    frames = sys._current_frames()
    out.write(f"{len(frames)} threads\n\n")
    for ident, frame in sorted(frames.items(), key=lambda item: names.get(item[0], "")):
        out.write(f"--- thread {names.get(ident, '?')} ({ident})\n")
        out.write("".join(traceback.format_stack(frame)))
        out.write("\n")
    try:
        tasks = sorted(asyncio.all_tasks(), key=lambda t: t.get_name())
    except RuntimeError:  # no running loop
        tasks = []
    out.write(f"{len(tasks)} asyncio tasks\n\n")
    for task in tasks:
        out.write(f"--- task {task.get_name()}: {task.get_coro()!r}\n")
        for frame in task.get_stack(limit=20):
            code = frame.f_code
            out.write(f'  File "{code.co_filename}", line {frame.f_lineno or "?"}, in {code.co_name}\n')
        out.write("\n")
    return out.getvalue()
