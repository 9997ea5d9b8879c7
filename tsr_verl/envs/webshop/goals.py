"""WebShop goals (synthetic and human), built once per catalog store and cached there, plus fixed splits.

Semantics follow upstream ``web_agent_site/engine/goal.py``:

* **synthetic**: every product whose ins entry has an ``instruction`` yields one goal per
  combination of its option values (option names sorted; values in catalog order); the text is
  ``"{instruction} with name: v, and name2: w, and price lower than P.00 dollars"``. Products
  whose ``instruction_attributes`` are empty are skipped (upstream asserts instead).
  ``weight`` = mean over the goal's attributes of ``1 / (#goals asking for that attribute)``.
* **human**: every entry of ``items_human_ins.json`` for a catalog product with non-empty
  ``instruction_attributes``; text = ``instruction.strip('.')`` + the price text; weight 1.
* **price limit**: the first four multiples of 10 above the price; if there are at least two,
  ``P`` is the larger of two distinct ones drawn at random, else ``P = 1e6`` and no price text.
* **order**: goals are listed in catalog order and then shuffled exactly as upstream does
  (``random.seed(233); random.shuffle(goals)``), so equal goal lists give upstream's order.

Changed on purpose: every random draw (prices, ``P``) is a hash of the global seed 233 and the
goal's key (asin, instruction number), so every process and every tier agree.

Splits are fixed positions in the shuffled list: test = 0-499, val = 500-1499, train = the rest.

Example::

    goals = load_goals(open_catalog(data_dir, "small"), "synthetic")
    goal = goals[split_range("test", len(goals))[0]]; split_of(1500) == "train"
"""

from __future__ import annotations

import contextlib
import json
import os
import random
from array import array
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, overload

import numpy as np
from tqdm import tqdm

from tsr_verl.envs.webshop.goals_build import (  # noqa: F401 - re-exported
    GOAL_KINDS,
    NO_PRICE_LIMIT,
    PRICE_STEPS,
    _check_kind,
    build_goals,
    iter_sources,
    make_goal,
    n_variants,
    price_limit,
)
from tsr_verl.envs.webshop.schema import Goal
from tsr_verl.envs.webshop.store import StoreCatalog
from tsr_verl.envs.webshop.store_convert import GLOBAL_SEED
from tsr_verl.envs.webshop.store_io import atomic_dir, file_lock
from tsr_verl.io import write_json

GOALS_FORMAT_VERSION = 2
"""Bumped whenever goal generation changes, so cached goal lists are rebuilt."""
SPLIT_BOUNDS: dict[str, tuple[int, int | None]] = {"test": (0, 500), "val": (500, 1500), "train": (1500, None)}
"""Fixed split positions in the shuffled goal list: ``[start, end)``, ``None`` = to the end."""


def split_of(index: int) -> str:
    """The split (``test``/``val``/``train``) of goal ``index``."""
    if index < 0:
        raise IndexError(f"goal index must be >= 0, got {index}")
    return next(name for name, (lo, hi) in SPLIT_BOUNDS.items() if lo <= index and (hi is None or index < hi))


def split_range(name: str, n_goals: int) -> range:
    """Goal indices of split ``name`` in a list of ``n_goals`` goals (empty if the list is short)."""
    if name not in SPLIT_BOUNDS:
        raise ValueError(f"unknown split {name!r}; expected one of {sorted(SPLIT_BOUNDS)}")
    lo, hi = SPLIT_BOUNDS[name]
    return range(min(lo, n_goals), n_goals if hi is None else min(hi, n_goals))


def _write_goals(catalog: StoreCatalog, kind: str, out: Path, progress: bool) -> None:
    """Index the goals compactly: per goal its source row and variant number (texts are made on
    read), the upstream shuffle order, and the weights (in shuffled order)."""
    rows, variants, per_source = array("q"), array("q"), []
    counts: Counter[str] = Counter()
    n_sources = len(np.load(catalog.folder / "goal_sources_offsets.npy", mmap_mode="r")) - 1
    for row, source in enumerate(
        tqdm(
            iter_sources(catalog),
            total=n_sources,
            desc=f"webshop {kind} goals",
            unit="product",
            disable=not progress,
            mininterval=1.0,
        )
    ):
        found = n_variants(source, catalog.record(source["index"]), kind)
        if found:
            rows.extend([row] * len(found))
            variants.extend(found)
            attributes = source["instruction_attributes"]
            if kind == "synthetic":
                for a in attributes:  # upstream counts every (goal, attribute)
                    counts[a] += len(found)
                per_source.append((len(found), attributes))
    n = len(rows)
    if kind == "synthetic":
        weights = np.repeat(
            [sum(1.0 / counts[a] for a in at) / len(at) for _, at in per_source], [k for k, _ in per_source]
        ).astype(np.float64)
    else:
        weights = np.ones(n, dtype=np.float64)
    order = list(range(n))
    random.Random(GLOBAL_SEED).shuffle(order)  # upstream: random.seed(233); random.shuffle(goals)
    order_arr = np.array(order, dtype=np.int64)
    np.save(out / "rows.npy", np.frombuffer(rows, dtype=np.int64) if n else np.zeros(0, np.int64))
    np.save(out / "variants.npy", np.frombuffer(variants, dtype=np.int64) if n else np.zeros(0, np.int64))
    np.save(out / "order.npy", order_arr)
    np.save(out / "weights.npy", weights[order_arr] if n else weights)
    write_json(
        {"format_version": GOALS_FORMAT_VERSION, "kind": kind, "n_goals": n, "seed": GLOBAL_SEED}, out / "manifest.json"
    )


class GoalSet(Sequence[Goal]):
    """The shuffled goal list of one kind (index = upstream session id), made lazily from the
    store: each goal is rebuilt from its source row and variant number when read."""

    def __init__(self, folder: Path, catalog: StoreCatalog) -> None:
        self.folder, self.catalog = Path(folder), catalog
        self.manifest: dict[str, Any] = json.loads((self.folder / "manifest.json").read_text())
        self.kind: str = self.manifest["kind"]
        self._rows = np.load(self.folder / "rows.npy", mmap_mode="r")
        self._variants = np.load(self.folder / "variants.npy", mmap_mode="r")
        self._order = np.load(self.folder / "order.npy", mmap_mode="r")
        self.weights: np.ndarray = np.load(self.folder / "weights.npy", mmap_mode="r")
        """Sampling weight per goal (shuffled order)."""
        self._source_offsets = np.load(catalog.folder / "goal_sources_offsets.npy", mmap_mode="r")
        self._fd = os.open(catalog.folder / "goal_sources.jsonl", os.O_RDONLY)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            os.close(self._fd)

    def __len__(self) -> int:
        return len(self._order)

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "catalog": self.catalog}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(Path(state["folder"]), state["catalog"])  # type: ignore[misc]

    def record(self, index: int) -> dict[str, Any]:
        """Goal ``index`` as a plain dict (``schema.Goal`` fields, ``weight`` included)."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"goal index {index} out of range ({len(self)} {self.kind} goals)")
        index %= len(self)
        raw = int(self._order[index])
        row = int(self._rows[raw])
        start, end = int(self._source_offsets[row]), int(self._source_offsets[row + 1])
        source = json.loads(os.pread(self._fd, end - start, start))
        goal = make_goal(source, self.catalog.record(source["index"]), self.kind, int(self._variants[raw]))
        return {**goal, "weight": float(self.weights[index])}

    @overload
    def __getitem__(self, index: int) -> Goal: ...
    @overload
    def __getitem__(self, index: slice) -> list[Goal]: ...

    def __getitem__(self, index: int | slice) -> Goal | list[Goal]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        r = self.record(int(index))
        options = r["goal_options"]
        return Goal(
            asin=r["asin"],
            instruction_text=r["instruction_text"],
            attributes=tuple(r["attributes"]),
            goal_options=MappingProxyType(options) if isinstance(options, dict) else tuple(options),
            price_upper=float(r["price_upper"]),
            query=r["query"],
            category=r["category"],
            product_category=r["product_category"],
            name=r["name"],
            kind=r["kind"],
            weight=r["weight"],
            extra=MappingProxyType(r["extra"]),
        )

    def split(self, name: str) -> range:
        """Goal indices of split ``name`` (``test``/``val``/``train``)."""
        return split_range(name, len(self))


def load_goals(catalog: StoreCatalog, kind: str = "synthetic", progress: bool = True) -> GoalSet:
    """The goals of ``kind`` for ``catalog``: built on first use into ``<store>/goals-<kind>``
    (atomically, under a lock) and reused afterwards by every process."""
    _check_kind(kind)
    folder = catalog.folder / f"goals-{kind}"

    def fresh() -> bool:
        try:
            return json.loads((folder / "manifest.json").read_text())["format_version"] == GOALS_FORMAT_VERSION
        except (OSError, ValueError, KeyError):
            return False

    if not fresh():
        with file_lock(catalog.folder / f".goals-{kind}.lock"):
            if not fresh():
                with atomic_dir(folder) as tmp:
                    _write_goals(catalog, kind, tmp, progress)
    return GoalSet(folder, catalog)
