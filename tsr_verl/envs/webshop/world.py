"""The shared, read-only half of WebShop: catalog, goals, search backend and noun extractor.

Building a world (opening the store, generating goals, loading the search index and the spaCy
model) costs seconds; a session (``WebShopEnv``) costs a few hundred bytes. So worlds are built
once per process and cached by the config fields that decide them (``WebShopConfig.world_key``):
every env, fork and Ray shard session in a process with the same key shares one ``World``.
Upstream gets the same sharing only by passing ``server=`` around by hand; webshop-minimal makes
its server a singleton that silently ignores later, different arguments.

The world also memoises the two pure functions sessions call most: search (forks of one episode
repeat the same queries) and the purchase reward per (goal, product, options) (``progress()``
scores up to a results page's 10 products per call).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tsr_verl.envs.webshop.config import WORLD_FIELDS, WebShopConfig
from tsr_verl.envs.webshop.schema import Catalog, Goal, RewardBreakdown, SearchBackend

SEARCH_CACHE_SIZE = 4096
"""Distinct (query, top_k) results kept per world."""
REWARD_CACHE_SIZE = 65536
"""Distinct (goal, product, options) rewards kept per world."""


@dataclass(eq=False)
class World:
    """Immutable shared state of one WebShop configuration (do not mutate its parts)."""

    key: tuple[Any, ...]
    """``WebShopConfig.world_key()`` it was built for."""
    data_dir: Path
    """The resolved folder of raw files."""
    catalog: Catalog
    goals: Sequence[Goal]
    """All goals of the configured kind, in their fixed (seed-233) order; ``reset(seed)`` picks ``goals[seed]``."""
    search_backend: SearchBackend
    nouns: Any = None
    """The noun extractor passed to ``reward.get_reward`` (None: the reward module's default)."""
    build_seconds: float = 0.0
    _search: Any = field(default=None, repr=False)
    _reward: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._search = lru_cache(maxsize=SEARCH_CACHE_SIZE)(self._search_uncached)
        self._reward = lru_cache(maxsize=REWARD_CACHE_SIZE)(self._reward_uncached)

    def search(self, query: str, top_k: int) -> tuple[int, ...]:
        """Catalog indices of the best ``top_k`` matches for ``query`` (memoised)."""
        return self._search(query, top_k)

    def _search_uncached(self, query: str, top_k: int) -> tuple[int, ...]:
        return tuple(int(i) for i in self.search_backend.search(query, top_k=top_k))

    def reward(self, goal_index: int, product_index: int, options: tuple[tuple[str, str], ...]) -> RewardBreakdown:
        """Purchase reward of buying catalog product ``product_index`` with ``options`` selected
        for goal ``goal_index`` (memoised; the product's shown price is the price paid)."""
        return self._reward(goal_index, product_index, options)

    def _reward_uncached(
        self, goal_index: int, product_index: int, options: tuple[tuple[str, str], ...]
    ) -> RewardBreakdown:
        from tsr_verl.envs.webshop.reward import get_reward

        product = self.catalog.product(product_index)
        return get_reward(self.goals[goal_index], product, dict(options), product.price, nouns=self.nouns)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle by key: unpickling (e.g. an env sent to another process) reopens the world there."""
        return (_world_for_key, (self.key,))

    def clear_caches(self) -> None:
        """Empty the search and reward memos (benchmarks measuring cold calls)."""
        self._search.cache_clear()
        self._reward.cache_clear()

    def metadata(self) -> dict[str, Any]:
        """What a run should record about its WebShop world."""
        return {
            "data_dir": str(self.data_dir),
            "products": len(self.catalog),
            "goals": len(self.goals),
            "search_backend": getattr(self.search_backend, "name", type(self.search_backend).__name__),
            "nouns": self.nouns.describe() if hasattr(self.nouns, "describe") else None,
            "build_seconds": round(self.build_seconds, 3),
        }


class MixedGoals(Sequence[Goal]):
    """Synthetic and human goals in one list (``goals="both"``) that keeps each kind's splits:
    split by split (test, val, train), the two kinds' goals of that split alternate (while both
    last), so a goal is in the same split here as in its own kind's list. ``split(name)`` gives
    the ranges (they are wider than ``goals.SPLIT_BOUNDS``: test holds both kinds' 500)."""

    def __init__(self, synthetic: Any, human: Any) -> None:
        self._parts = (synthetic, human)
        self._index: list[tuple[int, int]] = []
        self._splits: dict[str, range] = {}
        for name in ("test", "val", "train"):
            start = len(self._index)
            a, b = (list(part.split(name)) for part in self._parts)
            for k in range(max(len(a), len(b))):
                self._index += [(which, ids[k]) for which, ids in ((0, a), (1, b)) if k < len(ids)]
            self._splits[name] = range(start, len(self._index))

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> Goal:  # type: ignore[override]
        which, i = self._index[index]
        return self._parts[which][i]

    def split(self, name: str) -> range:
        """Indices of split ``name`` (``test``/``val``/``train``)."""
        return self._splits[name]


_WORLDS: dict[tuple[Any, ...], World] = {}
_LOCK = threading.Lock()


def get_world(config: WebShopConfig) -> World:
    """The process-wide world of ``config`` (built on first use, then shared)."""
    key = config.world_key()
    with _LOCK:
        world = _WORLDS.get(key)
        if world is None:
            world = _WORLDS[key] = build_world(config)
        return world


def _world_for_key(key: tuple[Any, ...]) -> World:
    return get_world(WebShopConfig(**dict(zip(WORLD_FIELDS, key, strict=True))))


def clear_worlds() -> None:
    """Forget every cached world (tests and benchmarks that rebuild on purpose)."""
    with _LOCK:
        _WORLDS.clear()


def build_world(config: WebShopConfig) -> World:
    """Build a fresh world for ``config`` (uncached; prefer ``get_world``)."""
    import time

    from tsr_verl.envs.webshop import goals as goals_mod
    from tsr_verl.envs.webshop.download import resolve_data_dir
    from tsr_verl.envs.webshop.nouns import get_noun_extractor
    from tsr_verl.envs.webshop.search import make_backend
    from tsr_verl.envs.webshop.store import open_catalog

    start = time.perf_counter()
    data_dir = Path(resolve_data_dir(config.data_dir, config.tier))
    catalog = open_catalog(data_dir, config.tier, config.cache_dir, progress=False)
    if config.goals == "both":
        goals: Sequence[Goal] = MixedGoals(
            goals_mod.load_goals(catalog, "synthetic", progress=False),
            goals_mod.load_goals(catalog, "human", progress=False),
        )
    else:
        goals = goals_mod.load_goals(catalog, config.goals, progress=False)
    index_dir = Path(config.cache_dir) if config.cache_dir else Path(catalog.folder)  # reuse the index
    backend = make_backend(config.search_backend, catalog, index_dir)
    return World(
        config.world_key(),
        data_dir,
        catalog,
        goals,
        backend,
        get_noun_extractor(config.noun_extractor),
        time.perf_counter() - start,
    )
