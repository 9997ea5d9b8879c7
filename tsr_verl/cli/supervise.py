"""Run a job whose helpers outlive it (Ray workers, vLLM engines) and leave nothing behind.

``main_ppo`` starts a local Ray cluster; Ray's workers are children of the raylet, which exits
before them when the driver shuts down, so for a few seconds to minutes they are orphans nobody
waits for. :func:`supervised` makes the launcher a Linux *child subreaper* so those orphans are
re-parented to it, waits for them to finish, and kills whatever is still alive after a grace
period. Tests rely on it to assert that an end-to-end run cleaned up after itself.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux ``PR_SET_CHILD_SUBREAPER``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(36, 1, 0, 0, 0) == 0  # 36 = PR_SET_CHILD_SUBREAPER


def _collect_zombies() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def _live_descendants() -> list[Any]:
    import psutil

    alive = []
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
    return alive


def reap(grace_s: float = 30.0) -> int:
    """Give a finished job's helpers (Ray workers, vLLM engines) ``grace_s`` to exit, then kill them.

    Returns how many processes had to be killed.
    """
    import psutil

    deadline = time.monotonic() + grace_s
    while True:
        _collect_zombies()
        left = _live_descendants()
        if not left or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(left, timeout=5)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    _collect_zombies()
    return len(left)


@contextlib.contextmanager
def supervised(cmd: Sequence[str], grace_s: float = 30.0, **popen_kwargs: Any) -> Iterator[subprocess.Popen]:
    """Run ``cmd``; when it ends (or on Ctrl-C) leave none of its Ray/vLLM processes behind."""
    become_subreaper()
    proc = subprocess.Popen(list(cmd), **popen_kwargs)
    # SIGTERM (e.g. `kill`, a batch scheduler) would end Python without running `finally`;
    # turn it into an exception so the job is interrupted and reaped like on Ctrl-C.
    previous = _raise_on_sigterm()
    try:
        yield proc
    except BaseException:
        proc.send_signal(signal.SIGINT)
        raise
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
        killed = reap(grace_s)
        if killed:
            print(f"[tsr_verl] stopped {killed} leftover Ray/vLLM process(es) of the job", flush=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(SystemExit):
    """Raised in the launcher when it receives SIGTERM (exit status 143, like the default)."""


def _raise_on_sigterm() -> Any:
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(128 + signum)

    return signal.signal(signal.SIGTERM, handler)
