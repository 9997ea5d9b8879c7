"""The data contract between WebShop's parts: products, goals, the catalog store, search, reward.

Everything here is plain data or a ``Protocol``; the modules that implement them are
``store.py`` (catalog on disk), ``goals.py`` (goal generation and splits), ``search.py`` (BM25
backends), ``reward.py`` (WebShop's purchase reward) and ``env.py`` (pages, actions, fork).
Field meanings follow upstream WebShop's raw files (``items_shuffle*.json`` for products,
``items_ins_v2*.json`` for attributes/instructions, ``items_human_ins.json`` for human goals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Product:
    """One catalog product, normalised from the raw schemas."""

    asin: str
    """Amazon id; unique in the catalog."""
    title: str
    """Raw ``name`` (upstream renders it as ``Title``)."""
    category: str
    """Raw ``category``: the coarse shop category (``beauty``, ``garden``, ...)."""
    query: str
    """Raw ``query``: the search query the product was scraped with (used by the reward's r_type)."""
    product_category: str
    """Raw ``product_category``: the breadcrumb ``A › B › C`` (used by the reward's r_type)."""
    price: float
    """The price shown and paid: the single price, or upstream's draw inside a price range."""
    price_range: tuple[float, ...]
    """Raw ``pricing`` parsed: one price or ``(low, high)``."""
    options: Mapping[str, tuple[str, ...]]
    """Raw ``customization_options``: option name (lower-cased, e.g. ``color``) -> values."""
    description: str = ""
    """Raw ``full_description``."""
    bullet_points: tuple[str, ...] = ()
    """Raw ``small_description`` (the Features page)."""
    reviews: tuple[Mapping[str, str], ...] = ()
    """Raw reviews (each with ``title``, ``score``, ``body`` where present)."""
    rating: str | None = None
    """Raw ``average_rating`` as shown, if any."""
    attributes: tuple[str, ...] = ()
    """From the ins file: the product's attributes (what goals ask for)."""


@dataclass(frozen=True)
class Goal:
    """One shopping instruction and what a purchase must match to earn reward 1.0."""

    asin: str
    """The product the goal was generated from."""
    instruction_text: str
    """What the agent reads (``i need a ..., and price lower than 40.00 dollars``)."""
    attributes: tuple[str, ...]
    """Attributes the purchased product must have (fuzzy-matched)."""
    goal_options: Mapping[str, str] | tuple[str, ...]
    """Options to select: name -> value (synthetic goals) or bare values (human goals)."""
    price_upper: float
    """The purchase must cost at most this."""
    query: str
    """The source product's ``query`` (reward r_type)."""
    category: str
    """The source product's ``category``."""
    product_category: str
    """The source product's ``product_category`` (reward r_type)."""
    name: str
    """The source product's title (reward r_type title score)."""
    kind: str = "synthetic"
    """``synthetic`` (one per option combination) or ``human`` (items_human_ins)."""
    weight: float = 1.0
    """Sampling weight (upstream weights synthetic goals per product)."""
    extra: Mapping[str, object] = field(default_factory=dict)
    """Anything else a raw goal carried (kept for analysis, unused by the reward)."""


class Catalog(Protocol):
    """Read-only product store; indices are positions in the raw file order (after de-duplication)."""

    def __len__(self) -> int: ...

    def product(self, index: int) -> Product:
        """The product at ``index`` (0-based); ``IndexError`` outside the range."""
        ...

    def index_of(self, asin: str) -> int:
        """Index of ``asin``; ``KeyError`` naming the asin if absent."""
        ...

    def search_text(self, index: int) -> str:
        """The lower-cased text the search engine indexes for this product (upstream: title,
        description, first bullet point, option values)."""
        ...


class SearchBackend(Protocol):
    """Ranks catalog products for a query."""

    name: str
    """Backend name recorded in run metadata (``bm25s``, ``tantivy``, ``pyserini``)."""

    def search(self, query: str, top_k: int = 50) -> list[int]:
        """Catalog indices of the best ``top_k`` matches, best first; equal scores keep catalog order."""
        ...


@dataclass(frozen=True)
class RewardBreakdown:
    """WebShop's purchase reward and its parts (``reward = r_type * matched / total``)."""

    reward: float
    """The final reward in [0, 1]; 1.0 is success."""
    r_type: float
    """Type match: 1, 0.5, 0.1 or 0 (query / category / title-noun overlap rules)."""
    r_attributes: float
    """Fraction of the goal's attributes the product has."""
    r_options: float | None
    """Fraction of the goal's options among the selected ones (None when the goal has none)."""
    r_price: bool | None
    """Whether the price is within ``price_upper`` (None when the goal has no price limit)."""
    details: Mapping[str, object] = field(default_factory=dict)
    """Intermediate values (matched attributes/options, title score, noun extractor used)."""
