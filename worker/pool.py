"""``cronplane worker`` with several processes: one ``CronplaneWorker`` per process, supervised.

The parent forks the processes after loading every target once (so each inherits the imports),
forwards SIGTERM/SIGINT to them (a second signal hands back at once, as for one worker), restarts
a process that dies while the pool is not stopping (not in burst mode) and exits when all have
exited, with the worst exit code. Each process is its own RQ worker, named ``<name>-<n>``, in its
own process group: a Ctrl-C in a terminal reaches the parent only, which forwards it once (a
signal to the whole group would otherwise reach each child twice: a second stop).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from collections.abc import Callable

log = logging.getLogger("cronplane.worker")
RESTART_DELAY = 1.0


def run_pool(processes: int, start: Callable[[int], int], burst: bool) -> int:
    """Run ``start(index)`` in ``processes`` forked children; the exit code is the worst child's."""
    children: dict[int, int] = {}  # pid -> index
    stopping = False
    worst = 0

    def spawn(index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the child: its own signal handling, its own connections
            os.setpgrp()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = start(index)
            except SystemExit as e:
                code = int(e.code or 0)
            except BaseException:
                logging.getLogger("cronplane.worker").exception("worker process %d failed", index)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = index

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for index in range(processes):
        spawn(index)
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        index = children.pop(pid, -1)
        code = os.waitstatus_to_exitcode(status)
        if stopping and code in (-signal.SIGTERM, -signal.SIGINT):
            code = 0  # stopped by the forwarded signal before its own handlers were installed
        if index >= 0 and not stopping and not burst:
            log.warning("worker process %d exited with %d; restarting it", index, code)
            time.sleep(RESTART_DELAY)
            spawn(index)
        else:
            worst = max(worst, abs(code))
    return worst
