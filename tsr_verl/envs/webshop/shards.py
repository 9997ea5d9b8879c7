"""WebShop sessions served by a few Ray actors ("shards"), each holding ONE world and MANY sessions.

verl-agent runs one Ray actor per environment, each loading its own catalog, index and JVM
(>70 cores and OOMs reported in its issues #91/#95). Here K shard actors (K = the CPU budget for
envs) each build one ``World`` and keep many light sessions (``WebShopEnv`` views, a few hundred
bytes each) in an LRU dict. The client routes a new session to ``crc32(session_id) % K`` (stable
across processes), keeps a fork on its parent's shard (a fork is an in-memory copy), and sends
one batched RPC per shard per call, all shards concurrently.

``WebShopShard`` is a plain class (usable in-process; tests drive it directly); Ray is imported
only by ``WebShopShards``, lazily. Sessions not touched for a while can be pruned
(``prune(max_idle_s)``), and a shard evicts its least recently used session beyond
``max_sessions`` (upstream's ``user_sessions`` grows forever).

Example::

    ray.init(num_cpus=2)
    shards = WebShopShards(2, {"data_dir": "synthetic:200"})
    obs = shards.reset_many([("a", 0), ("b", 1)])
    results = shards.step_many([("a", "search[red shirt]"), ("b", "click[buy now]")])
    shards.shutdown()
"""

from __future__ import annotations

import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

from tsr_verl.envs.core import StepResult
from tsr_verl.envs.webshop.config import WebShopConfig
from tsr_verl.envs.webshop.env import WebShopEnv

T = TypeVar("T")
DEFAULT_MAX_SESSIONS = 8192
"""Sessions a shard keeps before evicting the least recently used."""


class WebShopShard:
    """One world, many sessions (``session_id -> WebShopEnv``), with batched calls."""

    def __init__(self, config: dict[str, Any] | None = None, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self._proto = WebShopEnv(**(config or {}))  # builds (or reuses) this process's world
        self.max_sessions = int(max_sessions)
        self._sessions: OrderedDict[str, WebShopEnv] = OrderedDict()
        self._last_used: dict[str, float] = {}
        self.evicted = 0

    def ready(self) -> dict[str, Any]:
        """World metadata (a round-trip that proves the actor is up)."""
        return self._proto.world.metadata()

    def reset_many(self, items: Sequence[tuple[str, int]]) -> list[str]:
        """Start (or restart) session ``sid`` on goal ``seed`` for each pair; first observations."""
        out = []
        for sid, seed in items:
            env = self._sessions.get(sid) or self._proto.fork()
            out.append(env.reset(int(seed)))
            self._put(sid, env)
        return out

    def step_many(self, items: Sequence[tuple[str, str]]) -> list[StepResult]:
        """Step each session with an action text (canonical or not; invalid = no-op). Each
        result's info also carries ``available_actions`` for the next prompt."""
        envs = [self._get(sid) for sid, _ in items]
        out = []
        for env, (_, action) in zip(envs, items, strict=True):
            result = env.step(action)
            result.info["available_actions"] = env.available_actions()
            if "reward_breakdown" in result.info:  # plain data across the wire
                result.info["reward_breakdown"] = dict(result.info["reward_breakdown"])
            out.append(result)
        return out

    def fork_session(self, sid: str, new_sid: str) -> None:
        """``new_sid`` becomes a fork of ``sid``'s current state (on this shard)."""
        self._put(new_sid, self._get(sid).fork())

    def close_many(self, sids: Sequence[str]) -> int:
        """Drop these sessions; returns how many existed."""
        found = 0
        for sid in sids:
            found += self._sessions.pop(sid, None) is not None
            self._last_used.pop(sid, None)
        return found

    def prune(self, max_idle_s: float) -> int:
        """Drop sessions unused for ``max_idle_s`` seconds; returns how many."""
        cutoff = time.monotonic() - max_idle_s
        return self.close_many([sid for sid, t in self._last_used.items() if t < cutoff])

    def call_many(self, method: str, sids: Sequence[str]) -> list[Any]:
        """A read-only query per session: ``render``, ``available_actions``, ``progress``, ``done``,
        ``success`` or ``purchase``."""
        if method not in _QUERIES:
            raise ValueError(f"webshop shard: unknown query {method!r}; expected one of {sorted(_QUERIES)}")
        return [_QUERIES[method](self._get(sid)) for sid in sids]

    def stats(self) -> dict[str, Any]:
        return {"sessions": len(self._sessions), "evicted": self.evicted, "world": self.ready()}

    def _get(self, sid: str) -> WebShopEnv:
        env = self._sessions.get(sid)
        if env is None:
            raise KeyError(f"webshop shard: unknown session {sid!r} (never reset, closed, pruned or evicted)")
        self._sessions.move_to_end(sid)
        self._last_used[sid] = time.monotonic()
        return env

    def _put(self, sid: str, env: WebShopEnv) -> None:
        self._sessions[sid] = env
        self._sessions.move_to_end(sid)
        self._last_used[sid] = time.monotonic()
        while len(self._sessions) > self.max_sessions:
            old, _ = self._sessions.popitem(last=False)
            self._last_used.pop(old, None)
            self.evicted += 1


_QUERIES: dict[str, Callable[[WebShopEnv], Any]] = {
    "render": lambda env: env.render(),
    "available_actions": lambda env: env.available_actions(),
    "progress": lambda env: env.progress(),
    "done": lambda env: env.done,
    "success": lambda env: env.success,
    "purchase": lambda env: None if env.purchase is None else asdict(env.purchase),
}


class WebShopShards:
    """Client for K ``WebShopShard`` Ray actors; every batched call returns results in input order."""

    def __init__(
        self,
        num_shards: int,
        config: WebShopConfig | dict[str, Any] | None = None,
        *,
        max_sessions_per_shard: int = DEFAULT_MAX_SESSIONS,
        num_cpus_per_shard: float = 1.0,
    ) -> None:
        import ray

        if num_shards < 1:
            raise ValueError(f"WebShopShards: num_shards must be >= 1, got {num_shards}")
        if not ray.is_initialized():
            raise RuntimeError("WebShopShards: call ray.init(...) first (the shards are Ray actors)")
        cfg = asdict(config) if isinstance(config, WebShopConfig) else dict(config or {})
        WebShopConfig(**cfg)  # fail here, not inside an actor
        actor = ray.remote(WebShopShard).options(num_cpus=num_cpus_per_shard)
        self._ray = ray
        self.actors = [actor.remote(cfg, max_sessions_per_shard) for _ in range(num_shards)]
        self.metadata = ray.get([a.ready.remote() for a in self.actors])[0]
        self._route: dict[str, int] = {}

    @property
    def num_shards(self) -> int:
        return len(self.actors)

    def shard_of(self, sid: str) -> int:
        """The shard of a session: its recorded shard, else ``crc32(sid) % K``."""
        return self._route.get(sid, zlib.crc32(sid.encode("utf-8")) % len(self.actors))

    def reset_many(self, items: Sequence[tuple[str, int]]) -> list[str]:
        for sid, _ in items:
            self._route[sid] = self.shard_of(sid)
        return self._scatter("reset_many", list(items))

    def step_many(self, items: Sequence[tuple[str, str]]) -> list[StepResult]:
        return [StepResult(*r) for r in self._scatter("step_many", list(items))]

    def call_many(self, method: str, sids: Sequence[str]) -> list[Any]:
        return self._scatter("call_many", list(sids), lead=(method,))

    def fork_session(self, sid: str, new_sid: str) -> None:
        shard = self.shard_of(sid)
        self._ray.get(self.actors[shard].fork_session.remote(sid, new_sid))
        self._route[new_sid] = shard

    def close_many(self, sids: Sequence[str]) -> int:
        found = sum(self._scatter("close_many", list(sids), combine=False))
        for sid in sids:
            self._route.pop(sid, None)
        return found

    def prune(self, max_idle_s: float) -> int:
        """Prune idle sessions on every shard (routes of pruned sessions are kept: harmless)."""
        return sum(self._ray.get([a.prune.remote(max_idle_s) for a in self.actors]))

    def stats(self) -> list[dict[str, Any]]:
        return self._ray.get([a.stats.remote() for a in self.actors])

    def shutdown(self) -> None:
        """Kill the shard actors (the client is unusable afterwards)."""
        for a in self.actors:
            self._ray.kill(a)
        self.actors = []

    def _scatter(self, method: str, items: list[Any], lead: tuple[Any, ...] = (), combine: bool = True) -> list[Any]:
        """Send each shard its items in one call (all shards concurrently); gather in input order."""
        groups: dict[int, list[int]] = {}
        for pos, item in enumerate(items):
            sid = item[0] if isinstance(item, tuple) else item
            groups.setdefault(self.shard_of(sid), []).append(pos)
        refs = {s: getattr(self.actors[s], method).remote(*lead, [items[p] for p in ps]) for s, ps in groups.items()}
        replies = dict(zip(refs, self._ray.get(list(refs.values())), strict=True))
        if not combine:
            return [replies[s] for s in groups]
        out: list[Any] = [None] * len(items)
        for s, ps in groups.items():
            for p, value in zip(ps, replies[s], strict=True):
                out[p] = value
        return out
