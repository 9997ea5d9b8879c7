"""Where a search's wall time goes: env work (``EnvTimer``) vs waiting for the policy (``ProposerClock``).

Both add to a ``SearchCost``; the veRL loop reports them as the agent loop's generate and tool
times, and the benchmarks as the search overhead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from tsr_verl.search.types import SearchCost

T = TypeVar("T")


class EnvTimer:
    """Context manager adding elapsed time to ``cost.env_time_s``."""

    def __init__(self, cost: SearchCost) -> None:
        self.cost = cost

    def __enter__(self) -> EnvTimer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cost.env_time_s += time.perf_counter() - self.start


class ProposerClock:
    """Adds the wall time while any awaited proposer batch is open (minus env work done meanwhile)
    to ``cost.proposer_time_s``; overlapping waits (beams, concurrent episodes) count once."""

    def __init__(self, cost: SearchCost) -> None:
        self.cost, self._active, self._since, self._env_since = cost, 0, 0.0, 0.0

    async def wait(self, aw: Awaitable[T]) -> T:
        if self._active == 0:
            self._since, self._env_since = time.perf_counter(), self.cost.env_time_s
        self._active += 1
        try:
            return await aw
        finally:
            self._active -= 1
            if self._active == 0:
                elapsed = time.perf_counter() - self._since - (self.cost.env_time_s - self._env_since)
                self.cost.proposer_time_s += elapsed
