"""The ``leftovers`` check the end-to-end tests end with: a live Ray-named process is a leftover,
a zombie (exited, waiting for its parent to reap it) is not."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import time

import pytest

PR_SET_NAME = 15


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork (Linux)")
def test_a_zombie_ray_worker_is_not_a_leftover_but_a_live_one_is(leftovers):
    since = time.time() - 1
    pid = os.fork()
    if pid == 0:  # child: look like a Ray actor (the name CI once saw), then wait to be killed
        try:
            ctypes.CDLL(None).prctl(PR_SET_NAME, b"ray::WebShopSha", 0, 0, 0)
            time.sleep(60)
        finally:
            os._exit(0)  # never return into pytest
    try:
        deadline = time.monotonic() + 10
        while not leftovers(since, settle_s=0) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the child has renamed itself
        assert any(str(pid) in p for p in leftovers(since, settle_s=0))
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)  # dead but not reaped: a zombie
        assert not any(str(pid) in p for p in leftovers(since, settle_s=0))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # a no-op on a zombie
        os.waitpid(pid, 0)
