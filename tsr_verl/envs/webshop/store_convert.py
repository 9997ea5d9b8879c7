"""Convert upstream WebShop's raw product files into the on-disk store that ``store.py`` reads.

Upstream semantics kept (``web_agent_site/engine/engine.py::load_products``):

* the tier's product limit cuts the *raw* list first (``products[:num_products]``), then records
  whose asin is ``"nan"`` or longer than 10 characters are skipped, and later duplicates of an
  asin are skipped (the first one wins);
* ``pricing`` is split on ``$``; every piece keeps only digits and dots; one price or the first
  two (a range) are kept; no pricing means ``[100.0]``;
* option names are lower-cased; option values are stripped, lower-cased and ``/`` becomes
  `` | ``; options whose value list is ``null`` are dropped;
* ``query`` is lower-cased and stripped; the search text is
  ``title + description + first bullet point + "name: v1, v2, and name2: ..."`` lower-cased.

Changed on purpose: the price inside a range is drawn from a hash of ``(233, asin)`` instead of
the unseeded global ``random`` (so every process agrees); products without ins attributes get
``()`` instead of ``['DUMMY_ATTR']``; unparseable price pieces are skipped instead of raising.

Example::

    info = convert(Path("data"), TIERS["small"], Path("/tmp/store"), progress=False)
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from array import array
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tsr_verl.envs.webshop.store_io import iter_json_array, iter_json_object

GLOBAL_SEED = 233
"""The one seed of all WebShop randomness (price draws, price limits, goal order), as upstream."""
DEFAULT_PRICE = 100.0
"""Upstream's price for a product without ``pricing``."""
_NOT_PRICE = re.compile(r"[^\d.]")


def seeded_uniform(*key: object, seed: int = GLOBAL_SEED) -> float:
    """A uniform number in [0, 1) determined by ``seed`` and ``key`` alone (blake2b), identical
    in every process and independent of iteration order."""
    text = "\x1f".join([str(seed), *map(str, key)]).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2.0**64


def parse_pricing(raw: Any) -> tuple[float, ...]:
    """Raw ``pricing`` (``"$12.99"``, ``"$10.00 to $20.00"``, a list of those or numbers) ->
    ``(price,)`` or ``(low, high)``."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return (float(raw),)
    pieces: list[Any] = []
    if isinstance(raw, str):
        pieces = raw.split("$")[1:]
    elif isinstance(raw, list):
        for item in raw:
            pieces.extend(item.split("$")[1:] if isinstance(item, str) and "$" in item else [item])
    prices: list[float] = []
    for piece in pieces:
        if isinstance(piece, (int, float)) and not isinstance(piece, bool):
            prices.append(float(piece))
            continue
        try:
            prices.append(float(Decimal(_NOT_PRICE.sub("", str(piece)))))
        except InvalidOperation:
            continue
    return tuple(prices[:2]) if prices else (DEFAULT_PRICE,)


def draw_price(asin: str, price_range: tuple[float, ...]) -> float:
    """The shown price: the single price, or a deterministic uniform draw inside the range."""
    if len(price_range) == 1:
        return price_range[0]
    low, high = price_range[0], price_range[1]
    return low + seeded_uniform("price", asin) * (high - low)


def parse_options(raw: Any) -> dict[str, list[str]]:
    """Raw ``customization_options`` -> ``{lower-cased name: [normalised values]}``."""
    options: dict[str, list[str]] = {}
    if not isinstance(raw, Mapping):
        return options
    for name, contents in raw.items():
        if contents is None:
            continue
        values = []
        for content in contents:
            value = content.get("value") if isinstance(content, Mapping) else content
            values.append(str(value).strip().replace("/", " | ").lower())
        options[str(name).lower()] = values
    return options


def _reviews(raw: Any) -> list[dict[str, str]]:
    out = []
    for review in raw if isinstance(raw, list) else []:
        if isinstance(review, Mapping):
            out.append(
                {
                    "title": str(review.get("title", "")),
                    "score": str(review.get("score", review.get("stars", ""))),
                    "body": str(review.get("body", review.get("review", ""))),
                }
            )
    return out


def normalize_product(raw: Mapping[str, Any], ins: Mapping[str, Any] | None) -> dict[str, Any]:
    """One raw product (+ its ins-file entry) -> the stored record (``schema.Product`` fields)."""
    asin = str(raw["asin"])
    bullets = raw.get("small_description")
    bullets = (
        [str(b) for b in bullets if b is not None]
        if isinstance(bullets, list)
        else ([] if bullets is None else [str(bullets)])
    )
    price_range = parse_pricing(raw.get("pricing"))
    rating = raw.get("average_rating")
    return {
        "asin": asin,
        "title": str(raw.get("name") or ""),
        "category": str(raw.get("category") or ""),
        "query": str(raw.get("query") or "").lower().strip(),
        "product_category": str(raw.get("product_category") or ""),
        "price": draw_price(asin, price_range),
        "price_range": list(price_range),
        "options": parse_options(raw.get("customization_options")),
        "description": str(raw.get("full_description") or ""),
        "bullet_points": bullets,
        "reviews": _reviews(raw.get("Reviews", raw.get("reviews"))),
        "rating": None if rating is None else str(rating),
        "attributes": [str(a) for a in (ins or {}).get("attributes") or []],
    }


def search_text(record: Mapping[str, Any]) -> str:
    """Upstream's indexed document text for a stored record."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in record["options"].items())
    bullets = record["bullet_points"]
    return " ".join([record["title"], record["description"], bullets[0] if bullets else "", option_text]).lower()


def _keep(asin: Any, seen: set[str]) -> bool:
    if not isinstance(asin, str) or asin == "nan" or len(asin) > 10 or asin in seen:
        return False
    seen.add(asin)
    return True


def _write_offsets(path: Path, offsets: array) -> None:
    np.save(path, np.frombuffer(offsets, dtype=np.int64) if len(offsets) else np.zeros(0, np.int64))


def convert(data_dir: Path, tier: Any, out_dir: Path, progress: bool = True) -> dict[str, Any]:
    """Write the store files of ``tier`` (a ``store.Tier``) from ``data_dir`` into ``out_dir``;
    return the manifest's statistics. Streams the product file; keeps the ins entries as compact
    JSON strings (the full ins file is one object keyed by asin)."""
    start = time.perf_counter()
    ins: dict[str, str] = {}
    for asin, entry in tqdm(
        iter_json_object(data_dir / tier.ins_file, tier.name),
        desc="webshop ins",
        unit="item",
        disable=not progress,
        mininterval=1.0,
    ):
        if isinstance(entry, Mapping):
            keep = {
                k: entry[k]
                for k in ("attributes", "instruction", "instruction_attributes", "instruction_options")
                if k in entry
            }
            ins[asin] = json.dumps(keep, ensure_ascii=False)
    human: dict[str, Any] = dict(iter_json_object(data_dir / tier.human_file, tier.name))
    seen: set[str] = set()
    asins: list[str] = []
    prices = array("d")
    offsets, search_offsets, source_offsets = array("q", [0]), array("q", [0]), array("q", [0])
    counts = {"raw": 0, "skipped": 0, "with_instruction": 0, "with_human": 0}
    with (
        open(out_dir / "products.jsonl", "wb") as prod_fh,
        open(out_dir / "search.txt", "wb") as search_fh,
        open(out_dir / "goal_sources.jsonl", "wb") as src_fh,
    ):
        bar = tqdm(
            total=tier.limit,
            desc=f"webshop {tier.name} products",
            unit="product",
            disable=not progress,
            mininterval=1.0,
        )
        for raw in iter_json_array(data_dir / tier.products_file, tier.name):
            if tier.limit is not None and counts["raw"] >= tier.limit:
                break
            counts["raw"] += 1
            bar.update()
            if not isinstance(raw, Mapping) or not _keep(raw.get("asin"), seen):
                counts["skipped"] += 1
                continue
            entry = json.loads(ins.get(raw["asin"], "{}"))
            record = normalize_product(raw, entry)
            index = len(asins)
            asins.append(record["asin"])
            prices.append(record["price"])
            line = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
            offsets.append(offsets[-1] + prod_fh.write(line))
            text = search_text(record).encode("utf-8")
            search_offsets.append(search_offsets[-1] + search_fh.write(text))
            instruction = entry.get("instruction")
            human_ins = human.get(record["asin"]) or []
            if instruction is not None or human_ins:
                counts["with_instruction"] += instruction is not None
                counts["with_human"] += bool(human_ins)
                source = {
                    "index": index,
                    "asin": record["asin"],
                    "instruction": instruction,
                    "instruction_attributes": entry.get("instruction_attributes") or [],
                    "human": human_ins if isinstance(human_ins, list) else [],
                }
                src_line = json.dumps(source, ensure_ascii=False).encode("utf-8") + b"\n"
                source_offsets.append(source_offsets[-1] + src_fh.write(src_line))
        bar.close()
    _write_offsets(out_dir / "products_offsets.npy", offsets)
    _write_offsets(out_dir / "search_offsets.npy", search_offsets)
    _write_offsets(out_dir / "goal_sources_offsets.npy", source_offsets)
    asin_array = np.array(asins, dtype="U10")
    np.save(out_dir / "asins.npy", asin_array)
    np.save(out_dir / "asin_order.npy", np.argsort(asin_array, kind="stable").astype(np.int64))
    np.save(out_dir / "prices.npy", np.frombuffer(prices, dtype=np.float64) if len(prices) else np.zeros(0))
    return {"n_products": len(asins), **counts, "convert_seconds": round(time.perf_counter() - start, 3)}
