"""A generated WebShop catalog in the exact raw schemas, for tests and benchmarks without the real data.

``write_synthetic_catalog`` writes ``items_shuffle_1000.json`` (a list of raw products),
``items_ins_v2_1000.json`` (asin -> attributes + synthetic instruction) and
``items_human_ins.json`` (asin -> human-style instructions), plus hard links under the full
tier's names (``items_shuffle.json``, ``items_ins_v2.json``) so every tier can open it.
Products span several categories, with and without options (``/`` in some values), single and
ranged prices (a few above $970, which get no price limit, and a few without pricing). Every
title carries a made-up brand and model code, and every instruction names the brand, the
product noun and its attributes, so a BM25 search on an instruction's words finds its product
in the top 10. Deterministic in ``(n_products, seed)``; 100k products take a few seconds.

Example::

    write_synthetic_catalog(Path("/tmp/ws"), n_products=200)
    catalog = open_catalog(Path("/tmp/ws"), "small")
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

from tsr_verl.io import atomic_path

SMALL_NAMES = ("items_shuffle_1000.json", "items_ins_v2_1000.json", "items_human_ins.json")
"""The files written, under the ``small`` tier's names."""
FULL_NAMES = ("items_shuffle.json", "items_ins_v2.json")
"""Extra names (hard links) so the ``100k`` / ``full`` tiers open the same catalog."""

# category -> (breadcrumb, product nouns, adjectives, attributes, option kinds)
_CATEGORIES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "beauty": (
        "Beauty & Personal Care › Skin Care › Face",
        ("moisturizer", "serum", "cleanser", "lipstick", "shampoo"),
        ("hydrating", "gentle", "organic", "vitamin"),
        ("paraben free", "long lasting", "cruelty free", "sensitive skin", "travel size"),
        ("color", "size"),
    ),
    "garden": (
        "Home & Kitchen › Garden › Planters",
        ("planter", "hose", "shovel", "sprinkler", "birdhouse"),
        ("rustic", "outdoor", "ceramic", "folding"),
        ("weather resistant", "easy assemble", "heavy duty", "rust proof", "lightweight"),
        ("color", "style"),
    ),
    "grocery": (
        "Grocery & Gourmet Food › Snacks › Cookies",
        ("cookies", "granola", "tea", "coffee", "crackers"),
        ("crunchy", "roasted", "sweet", "spicy"),
        ("gluten free", "sugar free", "non gmo", "keto friendly", "individually wrapped"),
        ("flavor name", "size"),
    ),
    "electronics": (
        "Electronics › Audio › Headphones",
        ("headphones", "speaker", "charger", "webcam", "keyboard"),
        ("wireless", "portable", "compact", "smart"),
        ("noise cancelling", "fast charging", "bluetooth", "high definition", "usb c"),
        ("color", "style"),
    ),
    "fashion": (
        "Clothing, Shoes & Jewelry › Men › Shirts",
        ("shirt", "sneakers", "jacket", "hoodie", "boots"),
        ("slim fit", "casual", "classic", "vintage"),
        ("machine wash", "button closure", "cotton blend", "quick drying", "relaxed fit"),
        ("color", "size"),
    ),
}
_SYLLABLES = tuple(
    "zor vex kal dri mon tas pel quin rho sab tev ulm wix yar bro cel dax fio gub hap jor lun nim pox".split()
)
_VALUES = {
    "color": ("black", "navy blue", "white", "red", "forest green", "black/white", "pink", "grey", "gold"),
    "size": ("small", "medium", "large", "x-large", "2 pack", "8 ounce", "16 ounce"),
    "style": ("modern", "classic", "deluxe", "pro", "mini"),
    "flavor name": ("chocolate", "vanilla", "lemon", "peanut butter", "sea salt"),
}


def _product(i: int, rng: random.Random) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """One raw product, its ins entry and its human instructions."""
    category = rng.choice(sorted(_CATEGORIES))
    crumb, nouns, adjectives, attributes, option_kinds = _CATEGORIES[category]
    noun, adjective = rng.choice(nouns), rng.choice(adjectives)
    brand = "".join(rng.sample(_SYLLABLES, 3))
    model = f"{rng.choice('qrstvwxz')}{rng.randrange(10, 1000)}"
    attrs = rng.sample(attributes, rng.choice((1, 2, 2, 3)))
    asin = f"B{i:09d}"
    title = f"{brand.title()} {model.upper()} {adjective.title()} {noun.title()}, {', '.join(a.title() for a in attrs)}"
    options: dict[str, list[dict[str, str]]] = {}
    for kind in option_kinds:
        if rng.random() < 0.8:
            picked = rng.sample(_VALUES[kind], rng.randint(2, 5))
            options[kind.title()] = [
                {"value": v.title(), "image": f"https://img.example/{asin}/{j}.jpg"} for j, v in enumerate(picked)
            ]
    roll, low = rng.random(), round(rng.uniform(3, 120), 2) * (10 if category == "electronics" else 1)
    if roll < 0.03:
        pricing: Any = ""
    elif roll < 0.35:
        pricing = f"${low:.2f} to ${low * rng.uniform(1.1, 2.0):.2f}"
    else:
        pricing = f"${low:.2f}"
    bullets = [f"{a.capitalize()}: this {noun} from {brand} is {a}." for a in attrs] + [f"Model {model} by {brand}."]
    raw = {
        "asin": asin,
        "name": title,
        "category": category,
        "query": f"{adjective} {noun}",
        "product_category": crumb,
        "brand": brand.title(),
        "pricing": pricing,
        "full_description": f"The {brand} {model} {adjective} {noun} is {' and '.join(attrs)}. "
        f"A reliable {noun} for everyday use.",
        "small_description": bullets if rng.random() < 0.9 else bullets[0],
        "customization_options": options,
        "images": [f"https://img.example/{asin}/main.jpg"],
        "average_rating": f"{rng.randint(30, 50) / 10} out of 5 stars",
        "Reviews": [{"title": "Great", "score": str(rng.randint(3, 5)), "body": f"I like this {noun}."}],
    }
    inst_attrs = attrs[: max(1, len(attrs) - rng.randint(0, 1))]
    instruction = f"i am looking for a {brand} {adjective} {noun} that is {' and '.join(inst_attrs)}"
    ins = {"asin": asin, "attributes": attrs, "instruction": instruction, "instruction_attributes": inst_attrs}
    humans = []
    for k in range(rng.choice((0, 1, 1, 2))):
        chosen = [rng.choice(v)["value"].lower() for v in options.values()]
        attr = rng.choice(attrs)
        wants = f" in {' and '.join(chosen)}" if chosen else ""
        humans.append(
            {
                "asin": asin,
                "instruction": f"Find me {attr} {noun} by {brand}{wants}.",
                "attributes": attrs,
                "instruction_attributes": [attr],
                "options": chosen,
                "instruction_options": chosen,
                "assignment_id": f"A{i}-{k}",
                "worker_id": f"W{i % 97}",
            }
        )
    return raw, ins, humans


def write_synthetic_catalog(out_dir: str | Path, n_products: int = 200, seed: int = 0) -> Path:
    """Write a ``n_products``-product catalog (three raw files, atomically) into ``out_dir``."""
    if n_products < 1:
        raise ValueError(f"n_products must be >= 1, got {n_products}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    ins_all: dict[str, Any] = {}
    human_all: dict[str, Any] = {}
    with atomic_path(out / SMALL_NAMES[0]) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write("[")
        for i in range(n_products):
            raw, ins, humans = _product(i, rng)
            fh.write(("," if i else "") + "\n" + json.dumps(raw))
            ins_all[raw["asin"]] = ins
            if humans:
                human_all[raw["asin"]] = humans
        fh.write("\n]\n")
    for name, data in ((SMALL_NAMES[1], ins_all), (SMALL_NAMES[2], human_all)):
        with atomic_path(out / name) as tmp:
            tmp.write_text(json.dumps(data), encoding="utf-8")
    for small, full in zip(SMALL_NAMES, FULL_NAMES, strict=False):
        _link(out / small, out / full)
    return out


def _link(src: Path, dst: Path) -> None:
    """Hard-link ``src`` to ``dst`` (replacing it); copy where links are unsupported."""
    with atomic_path(dst) as tmp:
        os.remove(tmp)
        try:
            os.link(src, tmp)
        except OSError:
            tmp.write_bytes(src.read_bytes())
