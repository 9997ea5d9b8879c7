"""Constructor options of the WebShop env and their validation (``make("webshop", **fields)``).

Kept apart from ``env`` so the option surface (names, defaults, allowed values, error messages)
reads in one place; bounds sit next to each field (``tsr_verl.fields.setting``). The fields that
choose the *world* (catalog, goals, search backend) are listed in ``WORLD_FIELDS``: envs whose
configs agree on them share one cached world per process (``world.get_world``); the other fields
only shape a session.

Rewards and penalties: the env's own step reward is 0 except on ``click[buy now]``, which pays
the purchase reward in [0, 1] (upstream's ``get_reward``; success = reward 1.0). An action that
is not valid on the current page is a no-op with reward 0, as upstream. The format penalty for
malformed or invalid answers is *not* the env's business: tsr_verl's parser adds
``ParseConfig.format_penalty`` (-0.1 by default, verl-agent's invalid-action penalty) to the turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tsr_verl.fields import check_bounds, setting

OBSERVATION_MODES: tuple[str, ...] = ("text", "text_rich")
GOAL_KINDS: tuple[str, ...] = ("synthetic", "human", "both")
TIERS: tuple[str, ...] = ("small", "100k", "full")
PROFILES: tuple[str, ...] = ("upstream", "ragen")
NOUN_EXTRACTORS: tuple[str, ...] = ("spacy", "heuristic")
RAGEN_SPLITS: tuple[str, ...] = ("auto", "test", "val", "train")
WORLD_FIELDS: tuple[str, ...] = ("data_dir", "tier", "cache_dir", "goals", "search_backend", "noun_extractor")


@dataclass(frozen=True)
class WebShopConfig:
    """Constructor options of ``WebShopEnv`` (``make("webshop", **fields)``)."""

    data_dir: str = setting("synthetic:200", nonblank=True, rule="a folder or 'synthetic:N'")
    """Where the raw WebShop files are: a folder, or ``synthetic:N`` for a generated N-product
    catalog in the raw schemas (the default, so CPU smoke runs need no download). Resolved by
    ``download.resolve_data_dir``."""
    tier: str = setting("small", choices=TIERS)
    """Catalog size of real data: ``small`` (1k products), ``100k`` or ``full`` (1.18M)."""
    cache_dir: str | None = setting(None, kind=str, optional=True, rule="None or a path string")
    """Where derived artefacts (normalised store, search index) are kept; None = next to the data."""
    goals: str = setting("synthetic", choices=GOAL_KINDS)
    """Which instructions: ``synthetic`` (one per option combination), ``human``
    (items_human_ins) or ``both``. ``reset(seed)`` picks goal number ``seed`` of this list, which
    is shuffled once with upstream's seed 233; splits are fixed ranges of it (test 0-499,
    val 500-1499, train the rest; see ``goals.py``)."""
    search_backend: str = setting("bm25s", nonblank=True, rule="a backend name")
    """Search engine (``search.make_backend``): ``bm25s`` (default, k1=0.9, b=0.4 as upstream's
    Lucene) or ``tantivy``."""
    noun_extractor: str = setting("spacy", choices=NOUN_EXTRACTORS)
    """The reward's title-noun extractor (``nouns.py``): ``spacy`` (default; spaCy 3.8 +
    en_core_web_sm 3.8 as upstream, exact rewards; the env refuses to start without it) or
    ``heuristic`` (no spaCy; warns, and differs from upstream on ~4.5% of purchases). The one
    used is recorded in ``metadata()`` and every purchase's ``reward_breakdown``."""
    profile: str = setting("upstream", choices=PROFILES)
    """Whose WebShop to reproduce (``profiles.py``; recorded in ``metadata()`` and purchase info).
    ``upstream``: princeton-nlp/WebShop's text env: ``Next >`` on every results page (also the
    last, which leads to an empty page), ``Rating: N.A.`` and an empty Reviews page, goal =
    goal number ``seed``, actions listed in upstream's order. ``ragen``: RAGEN's WebShop env
    (what the TSR paper trained on): RAGEN's instruction, ``Random(42)`` goal permutation and
    seed mapping, its hint lines and "You must choose from these actions" list after every page
    (``search[<content>]`` offered only on the search page, ``next >`` hidden on an empty page),
    and any ``search[...]``/``click[...]`` answer accepted, an invalid one stepped as a no-op
    without a format penalty."""
    ragen_split: str = setting("auto", choices=RAGEN_SPLITS)
    """``ragen`` profile only: RAGEN's ``reset(seed, mode)`` mode. ``auto`` takes it from the
    seed's fixed range (test < 500 <= val < 1500 <= train), so make-data's seeds stay in their
    split; ``test``/``val``/``train`` apply that mode's formula to every seed."""
    observation_mode: str = setting("text", choices=OBSERVATION_MODES)
    """``text``: the page's visible strings joined with `` [SEP] `` (upstream ``text``);
    ``text_rich``: one string per line with ``[button] x [button_]`` / ``[clicked button] x
    [clicked button_]`` markers (upstream ``text_rich``)."""
    results_per_page: int = setting(10, kind=int, ge=1)
    """Products listed per results page (upstream: 10)."""
    top_k: int = setting(50, kind=int, ge=1)
    """Search hits kept per query, i.e. results over all pages (upstream: 50)."""
    max_steps: int = setting(15, kind=int, ge=1)
    """Env steps after which the episode is truncated without a purchase. verl-agent uses 15;
    the TSR paper/RAGEN run 9 turns of 1 action (set 9 to match)."""
    search_anywhere: bool = True
    """Accept ``search[...]`` on every page, as upstream's text env does (its ``step`` never
    checks for a search bar). False accepts it only on the search page, which is what the
    prompts of RAGEN/verl-agent list (they show ``search[...]`` only when there is a search bar)."""
    show_attributes: bool = False
    """Offer the ``Attributes`` sub-page on item pages (upstream ``show_attrs``; off by default)."""
    progress_item_weight: float = setting(0.9, kind=float, ge=0, le=1)
    """``progress()`` on an item page (and its sub-pages) is this times the reward a purchase
    would get now; below 1 so that buying beats lingering at equal match."""
    progress_results_weight: float = setting(0.5, kind=float, ge=0, le=1)
    """``progress()`` on a results page is this times the best would-be reward (no options
    selected) among the products listed on the current page."""

    def __post_init__(self) -> None:
        check_bounds(self, "webshop")

    def world_key(self) -> tuple[Any, ...]:
        """The fields that decide the shared world (catalog, goals, search index)."""
        return tuple(getattr(self, name) for name in WORLD_FIELDS)
