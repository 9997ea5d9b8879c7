"""How one WebShop goal is made from its source product (upstream ``engine/goal.py`` semantics).

``goals.py`` stores, per goal, only its source row and variant number; ``make_goal`` rebuilds the
goal from them on read (and ``build_goals`` lists all goals of a catalog in catalog order).
Synthetic variants number the option combinations in ``itertools.product`` order over the sorted
option names; human variants number the product's entries in ``items_human_ins.json``.

Example::

    for goal in build_goals(catalog, "human"):
        print(goal["instruction_text"], goal["price_upper"])
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from tsr_verl.envs.webshop.store import StoreCatalog
from tsr_verl.envs.webshop.store_convert import seeded_uniform

GOAL_KINDS: tuple[str, ...] = ("synthetic", "human")
NO_PRICE_LIMIT = 1_000_000.0
"""Upstream's ``price_upper`` when no limit is stated."""
PRICE_STEPS: tuple[float, ...] = tuple(10.0 * i for i in range(1, 100))
"""Candidate price limits (upstream ``PRICE_RANGE``)."""


def price_limit(price: float, *key: object) -> tuple[float, str]:
    """``(price_upper, price_text)`` for a goal on a product costing ``price``; ``key`` seeds the draw."""
    steps = [p for p in PRICE_STEPS if p > price][:4]
    if len(steps) < 2:
        return NO_PRICE_LIMIT, ""
    pairs = list(itertools.combinations(steps, 2))
    upper = max(pairs[int(seeded_uniform("price_upper", *key) * len(pairs))])
    return upper, f", and price lower than {upper:.2f} dollars"


def option_names(product: Mapping[str, Any]) -> list[str]:
    """A product's option names in goal order (sorted, as upstream)."""
    return sorted(product["options"])


def n_variants(source: Mapping[str, Any], product: Mapping[str, Any], kind: str) -> list[int]:
    """The goal variants a source yields: option-combination numbers (synthetic) or the numbers
    of its usable human instructions."""
    if kind == "synthetic":
        if source["instruction"] is None or not source["instruction_attributes"]:
            return []
        return list(range(math.prod(len(product["options"][n]) for n in option_names(product))))
    return [j for j, e in enumerate(source["human"]) if isinstance(e, Mapping) and e.get("instruction_attributes")]


def make_goal(source: Mapping[str, Any], product: Mapping[str, Any], kind: str, variant: int) -> dict[str, Any]:
    """Goal ``variant`` of a source as a plain dict (``schema.Goal`` fields, weight unset).

    Synthetic variants number the option combinations in ``itertools.product`` order (the last
    option name varies fastest)."""
    if kind == "synthetic":
        names, options, rest = option_names(product), {}, variant
        for name in reversed(names):
            rest, r = divmod(rest, len(product["options"][name]))
            options[name] = product["options"][name][r]
        options = {name: options[name] for name in names}
        upper, price_text = price_limit(product["price"], "synthetic", product["asin"])
        option_text = ", and ".join(f"{k}: {v}" for k, v in options.items())
        text = f"{source['instruction']}{' with ' + option_text if option_text else ''}{price_text}"
        attributes: Sequence[str] = source["instruction_attributes"]
        goal_options: Any = options
    else:
        entry = source["human"][variant]
        upper, price_text = price_limit(product["price"], "human", product["asin"], variant)
        text = str(entry.get("instruction", "")).strip(".") + price_text
        attributes, goal_options = entry["instruction_attributes"], list(entry.get("instruction_options") or [])
    return {
        "asin": product["asin"],
        "instruction_text": text,
        "attributes": [str(a) for a in attributes],
        "goal_options": goal_options,
        "price_upper": upper,
        "query": product["query"],
        "category": product["category"],
        "product_category": product["product_category"],
        "name": product["title"],
        "kind": kind,
        "extra": {"product_index": source["index"]},
    }


def iter_sources(catalog: StoreCatalog) -> Iterator[dict[str, Any]]:
    """The stored goal sources (products with a synthetic or human instruction), catalog order."""
    with open(catalog.folder / "goal_sources.jsonl", encoding="utf-8") as fh:
        for line in fh:
            yield json.loads(line)


def build_goals(catalog: StoreCatalog, kind: str = "synthetic") -> Iterator[dict[str, Any]]:
    """Goals of ``kind`` as plain dicts in catalog order (before the shuffle), weights unset."""
    _check_kind(kind)
    for source in iter_sources(catalog):
        product = catalog.record(source["index"])
        for variant in n_variants(source, product, kind):
            yield make_goal(source, product, kind, variant)


def _check_kind(kind: str) -> None:
    if kind not in GOAL_KINDS:
        raise ValueError(f"unknown goal kind {kind!r}; expected one of {GOAL_KINDS}")
