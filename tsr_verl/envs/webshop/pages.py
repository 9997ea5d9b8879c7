"""WebShop's pages as immutable state plus text rendering, without HTML.

Upstream renders Jinja templates and scrapes them with BeautifulSoup; here each page is built
directly as the list of strings upstream's scraper would find (``Element``), in template order:

* search page: ``WebShop``, ``Instruction:``, the instruction, the ``Search`` button;
* results page: instruction, ``Back to Search``, ``Page p (Total results: n)``, ``< Prev`` (when
  p > 1), ``Next >`` (always, as upstream's template: on the last page it leads to an empty
  page p + 1), then per product its ASIN (a link), title and price tag;
* item page: instruction, ``Back to Search``, ``< Prev``, each option name followed by its values
  (radio labels), title, ``Price: ...``, ``Rating: N.A.`` (upstream never loads ratings),
  ``Description``, ``Features``, ``Reviews`` (and ``Attributes`` if enabled), ``Buy Now``;
* sub-pages (description / features / reviews / attributes): instruction, ``Back to Search``,
  ``< Prev``, then the content (none on Reviews: upstream's loader leaves every product's
  review list empty);
* done page: the thank-you line and the score.

``text`` mode joins the strings with `` [SEP] ``; ``text_rich`` writes one per line with
upstream's markers (``[button] x [button_]``, ``[clicked button] x [clicked button_]`` for the
selected options and visited ASINs, and a leading ``You have clicked x.`` line per selected
option). ``PageState`` is a frozen dataclass, so a fork shares it and a step replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from tsr_verl.envs.webshop.schema import Catalog, Product

BACK_TO_SEARCH, NEXT_PAGE, PREV_PAGE, BUY_NOW, SEARCH_BUTTON = "Back to Search", "Next >", "< Prev", "Buy Now", "Search"
SUB_PAGES: tuple[str, ...] = ("Description", "Features", "Reviews", "Attributes")
PAGE_KINDS: tuple[str, ...] = ("search", "results", "item", "sub", "done")
RATING = "N.A."
"""What upstream's item page shows as the rating (its loader's default; reviews are never loaded)."""


@dataclass(frozen=True)
class PageState:
    """Everything a session shows or remembers; immutable (steps build a new one)."""

    kind: str = "search"
    """One of ``PAGE_KINDS``."""
    query: str = ""
    """The last search's keywords (lower-cased)."""
    hits: tuple[int, ...] = ()
    """Catalog indices the last search returned (all pages), best first."""
    page: int = 1
    """Results page number (1-based)."""
    product: int | None = None
    """Catalog index of the open product (item page, sub-pages, done)."""
    options: tuple[tuple[str, str], ...] = ()
    """Selected options as ``(name, value)`` in first-selection order (re-selecting replaces)."""
    sub: str | None = None
    """Open sub-page (one of ``SUB_PAGES``) on ``sub`` pages."""
    visited: frozenset[str] = frozenset()
    """ASINs opened since the last ``Back to Search`` (``text_rich`` marks them as clicked)."""
    reward: float | None = None
    """The purchase reward, on the done page."""

    @property
    def selected(self) -> dict[str, str]:
        """Selected options as ``{name: value}``."""
        return dict(self.options)

    def select(self, name: str, value: str) -> PageState:
        """A copy with option ``name`` set to ``value``."""
        opts = [(n, value if n == name else v) for n, v in self.options]
        if all(n != name for n, _ in self.options):
            opts.append((name, value))
        return replace(self, options=tuple(opts))

    def num_pages(self, per_page: int) -> int:
        return max(1, -(-len(self.hits) // per_page))

    def page_hits(self, per_page: int) -> tuple[int, ...]:
        """Catalog indices listed on the current results page."""
        start = (self.page - 1) * per_page
        return self.hits[start : start + per_page]


class Element(NamedTuple):
    """One visible string of a page and what it is."""

    text: str
    role: str = "text"
    """``text`` (plain), ``button``, ``link`` (a product ASIN) or ``option`` (a radio label)."""
    name: str = ""
    """For options: the option's name (``color``); the click sets ``name = text``."""
    active: bool = False
    """For options: selected; for links: visited."""


def price_tag(product: Product) -> str:
    """Upstream's price string: ``$12.5`` or ``$10.0 to $20.0`` (``$100.0`` if unpriced)."""
    prices = [float(p) for p in product.price_range[:2]] or [100.0]
    return " to ".join(f"${p}" for p in prices)


def page_elements(
    state: PageState, instruction: str, catalog: Catalog, per_page: int, show_attributes: bool = False
) -> list[Element]:
    """The page's visible strings in upstream's template order."""
    head = [Element("Instruction:"), Element(instruction)]
    nav = [Element(BACK_TO_SEARCH, "button"), Element(PREV_PAGE, "button")]
    if state.kind == "search":
        return [Element("WebShop"), *head, Element(SEARCH_BUTTON, "button")]
    if state.kind == "done":
        return [
            Element("Thank you for shopping with us!"),
            Element("Your score (min 0.0, max 1.0)"),
            Element(f"{state.reward}"),
        ]
    if state.kind == "results":
        out = [
            *head,
            Element(BACK_TO_SEARCH, "button"),
            Element(f"Page {state.page} (Total results: {len(state.hits)})"),
        ]
        if state.page > 1:
            out.append(Element(PREV_PAGE, "button"))
        out.append(Element(NEXT_PAGE, "button"))
        for index in state.page_hits(per_page):
            p = catalog.product(index)
            out += [Element(p.asin, "link", active=p.asin in state.visited), Element(p.title), Element(price_tag(p))]
        return out
    if state.product is None:
        raise RuntimeError(f"webshop: a {state.kind!r} page without a product")
    p = catalog.product(state.product)
    if state.kind == "item":
        chosen = set(state.selected.values())
        out = [*head, *nav]
        for name, values in p.options.items():
            out.append(Element(name))
            out += [Element(v, "option", name, v in chosen) for v in values]
        out += [Element(p.title), Element(f"Price: {price_tag(p)}"), Element(f"Rating: {RATING}")]
        out += [Element(s, "button") for s in SUB_PAGES if show_attributes or s != "Attributes"]
        return [*out, Element(BUY_NOW, "button")]
    return [*head, *nav, *(Element(t) for t in sub_page_texts(p, state.sub or "") if t)]


def sub_page_texts(p: Product, sub: str) -> list[str]:
    """The content strings of a product sub-page."""
    if sub == "Description":
        return [p.description.strip()]
    if sub == "Features":
        return [b.strip() for b in p.bullet_points]
    if sub == "Reviews":
        return []  # upstream's load_products sets Reviews = [] for every product
    if sub == "Attributes":
        return list(p.attributes)
    raise ValueError(f"webshop: unknown sub-page {sub!r}; expected one of {SUB_PAGES}")


def render(elements: list[Element], mode: str) -> str:
    """``text``: strings joined by `` [SEP] ``; ``text_rich``: upstream's marked-up lines."""
    if mode == "text":
        return " [SEP] ".join(e.text for e in elements)
    lines, clicked = [], []
    for e in elements:
        mark = "[clicked button]" if e.active else "[button]"
        if e.role == "button":
            lines.append(f"[button] {e.text} [button_]")
        elif e.role == "option":
            lines.append(f"  {mark} {e.text} {mark[:-1]}_]")
            if e.active:
                clicked.insert(0, f"You have clicked {e.text}.")
        elif e.role == "link":
            lines.append(f"\n{mark} {e.text} {mark[:-1]}_]")
        else:
            lines.append(e.text)
    return "".join(c + "\n" for c in clicked) + "".join(line + "\n" for line in lines)


def clickables(elements: list[Element]) -> dict[str, Element]:
    """Lower-cased clickable text -> element (upstream's ``text_to_clickable``): option values
    (the last one wins when two options share a value), ASIN links and buttons (which win over
    an option of the same text); the ``Search`` button is not clickable (upstream excludes it)."""
    out: dict[str, Element] = {}
    for role in ("option", "link", "button"):
        for e in elements:
            if e.role == role:
                out[" ".join(e.text.lower().split())] = e
    out.pop(SEARCH_BUTTON.lower(), None)
    order = (" ".join(e.text.lower().split()) for e in elements)
    return {key: out[key] for key in dict.fromkeys(order) if key in out}  # page order
