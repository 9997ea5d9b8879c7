"""WebShop's purchase reward, reimplemented from the semantics of upstream ``engine/goal.py``.

``R = r_type * (attribute matches + option matches + [price <= price_upper])
/ (#attributes + #options + 1)``; success is ``R == 1``. Followed: the ``goal.py`` that loads
``en_core_web_sm`` and whose ``get_option_reward(purchased, goal)`` upstream's own
``tests/.../test_goal.py`` exercises (another variant, with ``en_core_web_lg``, exact ``size``
matching and option text searched in the title, does not fit those tests).

* **Fuzzy match.** Upstream calls ``thefuzz.fuzz.token_set_ratio(a, b) > 85``. thefuzz (>= 0.20,
  a rapidfuzz wrapper) first runs ``full_process`` on both sides (``str()`` of the object, drop
  code points 128-255, then rapidfuzz's ``default_process``: non-alphanumerics -> spaces,
  lower-case, strip) and returns ``int(round(score))``. Plain ``rapidfuzz.fuzz.token_set_ratio``
  does neither (no processor by default, float score), so ``fuzz_score`` does both explicitly:
  a match needs a raw score >= 85.5 (``round(85.5) == 86``), not > 85.
* **Attributes.** A goal attribute matches when a product attribute scores > 85, or, failing
  that, when it is a substring of the lower-cased title, joined bullet points or description.
* **Options.** Only the *selected* option values count. Both sides are colour-normalised
  (``normalize_color``: the first word of upstream's colour list found as a substring, else
  unchanged; case-sensitive, as upstream). Each goal option counts once if some selected value
  scores > 85 against it. Upstream master passes a synthetic goal's options as
  ``dict.items()``, so each goal option is a ``(name, value)`` pair: it is colour-normalised only
  when an element *equals* a colour word, and otherwise fuzzy-matched as the pair's ``str()``
  (``"color navy blue"`` after processing). ``upstream_option_pairs=True`` (default) reproduces
  this; the name's tokens shift near-threshold cases (a selected ``16 ounces`` scores 81 against
  ``size: 16 ounce`` but 94 against the bare value). False compares the bare values. Either way
  token_set_ratio is 100 when one side's tokens contain the other's (``large`` ~ ``x-large``).
* **Type.** ``query_match`` (equal scrape queries), ``category_match`` (>= 2 common ``›``-parts
  of the breadcrumbs), ``title_score`` = |set(goal nouns) & set(product nouns)| / len(goal
  nouns list) (0.2 if the goal title has no noun). r_type is 1; 0.5 if none of query/category
  match or title_score > 0.2; 0.1 if title_score < 0.1; 0 if title_score == 0.
* **Price.** ``r_price`` is None when ``price_upper <= 0`` (upstream would raise there); the price
  term is then left out of both numerator and denominator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rapidfuzz import fuzz, utils

from tsr_verl.envs.webshop.nouns import NounExtractor, get_noun_extractor
from tsr_verl.envs.webshop.schema import Goal, Product, RewardBreakdown

FUZZ_THRESHOLD = 85
"""A fuzzy match needs thefuzz's integer ``token_set_ratio`` above this (upstream)."""

COLOR_SET: tuple[str, ...] = tuple(
    """alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze
    brown burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas
    coffee cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso
    fuchsia gold granite grape graphite grass gray green grey heather indigo ivory ivy khaki
    lavender lemon leopard light lilac lime magenta maroon mauve merlot midnight mint mocha
    multicolor mushroom mustard natural navy nude olive orange peach pewter pink plum purple
    rainbow red rose royal rust sand sapphire seashell silver skull slate steel stone stonewash
    sunflower tan taupe teal tiger turquoise violet walnut wheat white wine yellow""".split()
)
"""Upstream's colour vocabulary (``engine/normalize.py``), in its order: the first hit wins."""

_NON_LATIN1 = {i: None for i in range(128, 256)}


def fuzz_score(a: object, b: object) -> int:
    """thefuzz's ``fuzz.token_set_ratio(a, b)`` (default ``force_ascii``/``full_process``)."""
    pa = utils.default_process(str(a).translate(_NON_LATIN1))
    pb = utils.default_process(str(b).translate(_NON_LATIN1))
    return int(round(fuzz.token_set_ratio(pa, pb)))


def fuzzy_match(a: object, b: object) -> bool:
    """Upstream's match test: ``token_set_ratio > 85``."""
    return fuzz_score(a, b) > FUZZ_THRESHOLD


def normalize_color(value: str) -> str:
    """The first colour of ``COLOR_SET`` that is a substring of ``value``; else ``value``."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


def _goal_option_key(name: str, value: str, pairs: bool) -> str:
    """A goal option as upstream compares it (see the module docstring)."""
    if not pairs:
        return normalize_color(value)
    for color in COLOR_SET:  # ``color in (name, value)`` on a tuple is element equality
        if color in (name, value):
            return color
    return str((name, value))


def type_reward(goal: Goal, product: Product, nouns: NounExtractor) -> dict[str, object]:
    """Upstream's ``get_type_reward``: r_type plus the three signals it is made of."""
    query_match = product.query == goal.query
    bought = {x.strip() for x in product.product_category.split("›")}
    wanted = {x.strip() for x in goal.product_category.split("›")}
    category_match = len(bought & wanted) >= 2
    desired = nouns.nouns(goal.name)
    got = nouns.nouns(product.title)
    title_score = 0.2 if not desired else len(set(desired) & set(got)) / len(desired)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {"r_type": r_type, "query_match": query_match, "category_match": category_match, "title_score": title_score}


def attribute_matches(goal_attributes: Sequence[str], product: Product) -> list[bool]:
    """Per goal attribute: fuzzy-matched by a product attribute, or found in title/features/description."""
    title = product.title.lower()
    bullets = " ".join(product.bullet_points).lower()
    description = product.description.lower()
    out = []
    for g_attr in goal_attributes:
        hit = any(fuzzy_match(p_attr, g_attr) for p_attr in product.attributes)
        out.append(hit or g_attr in title or g_attr in bullets or g_attr in description)
    return out


def option_matches(
    goal_options: Mapping[str, str] | Sequence[str],
    selected_options: Mapping[str, str],
    upstream_option_pairs: bool = True,
) -> list[bool]:
    """Per goal option: whether some *selected* value matches it (colour-normalised, fuzzy)."""
    if isinstance(goal_options, Mapping):
        keys = [_goal_option_key(str(k), str(v), upstream_option_pairs) for k, v in goal_options.items()]
    else:
        keys = [normalize_color(str(v)) for v in goal_options]
    chosen = [normalize_color(str(v)) for v in selected_options.values()]
    return [any(fuzzy_match(p, g) for p in chosen) for g in keys]


def get_reward(
    goal: Goal,
    product: Product,
    selected_options: Mapping[str, str],
    price: float,
    nouns: NounExtractor | None = None,
    *,
    upstream_option_pairs: bool = True,
) -> RewardBreakdown:
    """WebShop's reward for buying ``product`` with ``selected_options`` at ``price`` under ``goal``.

    ``nouns`` defaults to ``get_noun_extractor()`` (spaCy + en_core_web_sm, upstream's; raises if absent).
    """
    extractor = nouns if nouns is not None else get_noun_extractor()
    kind = type_reward(goal, product, extractor)
    attrs = attribute_matches(goal.attributes, product)
    opts = option_matches(goal.goal_options, selected_options, upstream_option_pairs)
    r_price = (price <= goal.price_upper) if goal.price_upper > 0 else None
    n_price = 0 if r_price is None else 1
    total = len(attrs) + len(opts) + n_price
    hits = sum(attrs) + sum(opts) + int(bool(r_price))
    r_type = float(kind["r_type"])  # type: ignore[arg-type]
    reward = r_type * (hits / total if total else 1.0)
    details: dict[str, object] = {
        **kind,
        "matched_attributes": [a for a, ok in zip(goal.attributes, attrs, strict=True) if ok],
        "missed_attributes": [a for a, ok in zip(goal.attributes, attrs, strict=True) if not ok],
        "option_hits": opts,
        "num_attribute_matches": sum(attrs),
        "num_option_matches": sum(opts),
        "w_attributes": len(attrs) / total if total else 0.0,
        "w_options": len(opts) / total if total else 0.0,
        "w_price": n_price / total if total else 0.0,
        "noun_extractor": extractor.describe(),
        "upstream_option_pairs": upstream_option_pairs,
    }
    return RewardBreakdown(
        reward=reward,
        r_type=r_type,
        r_attributes=sum(attrs) / len(attrs) if attrs else 1.0,
        r_options=sum(opts) / len(opts) if opts else None,
        r_price=r_price,
        details=details,
    )
