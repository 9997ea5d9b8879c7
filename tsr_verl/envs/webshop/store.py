"""The WebShop catalog on disk: converted once from the raw files, then read lazily (``schema.Catalog``).

Upstream loads every product into Python dicts (~15 GB for the full 1.18M-product tier, per
process). Here ``open_catalog`` converts the tier's raw files once into a store folder
(``products.jsonl`` + an ``int64`` offset index, the search texts likewise, ``asins.npy`` /
``asin_order.npy`` for ``index_of``, ``prices.npy``), written atomically into a temporary folder
and renamed, with a ``manifest.json`` recording the source files (size, mtime, sha256) and
``FORMAT_VERSION``. Later opens reuse it while the sources are unchanged. The numpy arrays are
``np.load(mmap_mode="r")``'d and products are read one record at a time (small LRU cache), so
many processes share the OS page cache instead of each holding the catalog.

Example::

    catalog = open_catalog(resolve_data_dir("synthetic:200", "small"), "small")
    p = catalog.product(0); catalog.index_of(p.asin) == 0; catalog.search_text(0)
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from tsr_verl.envs.webshop.schema import Product
from tsr_verl.envs.webshop.store_convert import convert
from tsr_verl.envs.webshop.store_io import WebShopDataError, atomic_dir, file_lock, fix_hint, sha256_file
from tsr_verl.io import write_json

FORMAT_VERSION = 1
"""Bumped whenever the store layout or the conversion changes, so stale stores are rebuilt."""
PRODUCT_CACHE_SIZE = 4096
"""Decoded products kept per catalog (LRU)."""

__all__ = ["FORMAT_VERSION", "TIERS", "StoreCatalog", "Tier", "WebShopDataError", "open_catalog", "store_dir"]


@dataclass(frozen=True)
class Tier:
    """Which raw files make a catalog, and how many raw products to read."""

    name: str
    """Tier name (``small``, ``100k``, ``full``); also names the download command's ``--tier``."""
    products_file: str
    """The product list (``items_shuffle*.json``)."""
    ins_file: str
    """Attributes and synthetic instructions per asin (``items_ins_v2*.json``)."""
    human_file: str = "items_human_ins.json"
    """Human instructions per asin."""
    limit: int | None = None
    """Read only the first ``limit`` raw products (upstream ``num_products``; the file is pre-shuffled)."""

    @property
    def files(self) -> tuple[str, ...]:
        return (self.products_file, self.ins_file, self.human_file)


TIERS: dict[str, Tier] = {
    "small": Tier("small", "items_shuffle_1000.json", "items_ins_v2_1000.json"),
    "100k": Tier("100k", "items_shuffle.json", "items_ins_v2.json", limit=100_000),
    "full": Tier("full", "items_shuffle.json", "items_ins_v2.json"),
}
"""The data tiers: upstream's 1k files, the first 100k products of the full file, all of it."""


def get_tier(tier: str | Tier) -> Tier:
    """``tier`` as a ``Tier``; ``ValueError`` naming the known tiers."""
    if isinstance(tier, Tier):
        return tier
    if tier not in TIERS:
        raise ValueError(f"unknown WebShop tier {tier!r}; expected one of {sorted(TIERS)}")
    return TIERS[tier]


def store_dir(data_dir: Path, tier: Tier, cache_dir: Path | None = None) -> Path:
    """Where the store of ``tier`` built from ``data_dir`` lives. Default:
    ``$TSR_VERL_CACHE/webshop/stores/<tier>-<hash of the data folder and limit>``."""
    if cache_dir is not None:
        return Path(cache_dir) / tier.name
    from tsr_verl.io import cache_dir as root

    key = hashlib.sha1(f"{Path(data_dir).resolve()}|{tier}".encode()).hexdigest()[:12]
    return root() / "webshop" / "stores" / f"{tier.name}-{key}"


def _source_stats(data_dir: Path, tier: Tier) -> dict[str, dict[str, int]]:
    stats = {}
    for name in tier.files:
        path = data_dir / name
        if not path.is_file():
            raise WebShopDataError(f"{path}: file not found (WebShop tier {tier.name!r}); {fix_hint(tier.name)}")
        st = path.stat()
        stats[name] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return stats


def _up_to_date(folder: Path, data_dir: Path, tier: Tier, stats: Mapping[str, Mapping[str, int]]) -> bool:
    """Whether ``folder`` holds a complete store of ``tier`` built from files with ``stats``.
    Size+mtime match -> yes; only a changed mtime -> re-hash the file and compare sha256."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("format_version") != FORMAT_VERSION or manifest.get("tier") != _tier_dict(tier):
        return False
    sources = manifest.get("sources", {})
    for name, st in stats.items():
        old = sources.get(name)
        if old is None or old["size"] != st["size"]:
            return False
        if old["mtime_ns"] != st["mtime_ns"] and old["sha256"] != sha256_file(data_dir / name):
            return False
    return True


def _tier_dict(tier: Tier) -> dict[str, Any]:
    return {"name": tier.name, "files": list(tier.files), "limit": tier.limit}


def open_catalog(
    data_dir: str | Path, tier: str | Tier = "small", cache_dir: str | Path | None = None, progress: bool = True
) -> StoreCatalog:
    """Open (building or rebuilding it first if needed) the catalog store of ``tier``.

    ``data_dir`` holds the raw files (see ``download.resolve_data_dir``); ``cache_dir`` overrides
    where the store lives. Missing or corrupt raw files raise ``WebShopDataError``."""
    tier, data_dir = get_tier(tier), Path(data_dir)
    folder = store_dir(data_dir, tier, Path(cache_dir) if cache_dir is not None else None)
    stats = _source_stats(data_dir, tier)
    if not _up_to_date(folder, data_dir, tier, stats):
        with file_lock(folder.with_name(folder.name + ".lock")):
            if not _up_to_date(folder, data_dir, tier, stats):  # another process may have built it meanwhile
                build_store(data_dir, tier, folder, progress)
    return StoreCatalog(folder)


def build_store(data_dir: Path, tier: Tier, folder: Path, progress: bool = True) -> Path:
    """Convert the raw files of ``tier`` into ``folder`` (atomically) and write the manifest."""
    stats = _source_stats(data_dir, tier)
    with atomic_dir(folder) as tmp:
        info = convert(data_dir, tier, tmp, progress)
        sources = {name: {**st, "sha256": sha256_file(data_dir / name)} for name, st in stats.items()}
        write_json(
            {
                "format_version": FORMAT_VERSION,
                "tier": _tier_dict(tier),
                "data_dir": str(data_dir.resolve()),
                "sources": sources,
                **info,
            },
            tmp / "manifest.json",
        )
    return folder


class StoreCatalog:
    """A read-only ``schema.Catalog`` over a store folder; cheap to open (mmaps, no decoding)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.manifest: dict[str, Any] = json.loads((self.folder / "manifest.json").read_text())
        self.tier: str = self.manifest["tier"]["name"]
        load = lambda name: np.load(self.folder / name, mmap_mode="r")  # noqa: E731
        self._offsets, self._search_offsets = load("products_offsets.npy"), load("search_offsets.npy")
        self._asins, self._asin_order, self.prices = load("asins.npy"), load("asin_order.npy"), load("prices.npy")
        self._data = self._map("products.jsonl")
        self._search = self._map("search.txt")
        self.product = lru_cache(maxsize=PRODUCT_CACHE_SIZE)(self._product)  # type: ignore[method-assign]

    def _map(self, name: str) -> mmap.mmap | bytes:
        with open(self.folder / name, "rb") as fh:
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if os.fstat(fh.fileno()).st_size else b""

    def __len__(self) -> int:
        return len(self._asins)

    def __getstate__(self) -> dict[str, Any]:
        return {"folder": str(self.folder)}  # pickles (e.g. to Ray actors) by path; reopened there

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["folder"])  # type: ignore[misc]

    def _check(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"product index {index} out of range (catalog has {len(self)} products)")
        return index % len(self)

    def record(self, index: int) -> dict[str, Any]:
        """The stored JSON record of product ``index`` (``schema.Product`` fields as plain data)."""
        i = self._check(int(index))
        return json.loads(self._data[int(self._offsets[i]) : int(self._offsets[i + 1])])

    def _product(self, index: int) -> Product:
        r = self.record(index)
        return Product(
            asin=r["asin"],
            title=r["title"],
            category=r["category"],
            query=r["query"],
            product_category=r["product_category"],
            price=r["price"],
            price_range=tuple(r["price_range"]),
            options=MappingProxyType({k: tuple(v) for k, v in r["options"].items()}),
            description=r["description"],
            bullet_points=tuple(r["bullet_points"]),
            reviews=tuple(MappingProxyType(x) for x in r["reviews"]),
            rating=r["rating"],
            attributes=tuple(r["attributes"]),
        )

    def product(self, index: int) -> Product:  # replaced per instance by an LRU-cached version
        """The product at ``index``; ``IndexError`` outside the range."""
        return self._product(index)

    def index_of(self, asin: str) -> int:
        """Index of ``asin`` (binary search over the sorted asins); ``KeyError`` if absent."""
        key = str(asin)
        pos = int(np.searchsorted(self._asins, key, sorter=self._asin_order))
        if pos < len(self) and self._asins[self._asin_order[pos]] == key:
            return int(self._asin_order[pos])
        raise KeyError(f"asin {asin!r} is not in the {self.tier} catalog")

    def __contains__(self, asin: object) -> bool:
        try:
            self.index_of(str(asin))
        except KeyError:
            return False
        return True

    def asin(self, index: int) -> str:
        """The asin of product ``index`` without decoding the record."""
        return str(self._asins[self._check(int(index))])

    def search_text(self, index: int) -> str:
        """Upstream's indexed text: lower-cased title, description, first bullet point, options."""
        i = self._check(int(index))
        return bytes(self._search[int(self._search_offsets[i]) : int(self._search_offsets[i + 1])]).decode("utf-8")
