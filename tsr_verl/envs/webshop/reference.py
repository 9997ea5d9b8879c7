"""The reference check: this WebShop against upstream's on real data (Lucene ranks, reward values).

A reference folder has the layout of ``shared/webshop_reference`` (and of its vendored subset in
``tests/fixtures/webshop``):

* ``raw/``: WebShop raw files of a real catalog (``items_shuffle_1000.json``,
  ``items_ins_v2_1000.json``, ``items_human_ins.json``), read as the ``small`` tier;
* ``queries.txt`` and ``lucene_top50.txt``: one query per line and, on the same line number,
  real Lucene's (Anserini 0.25, BM25 k1=0.9 b=0.4) top-50 as ``ASIN:score`` pairs (empty: no hit);
* ``upstream_rewards.json``: purchases ``{goal, goal_asin, instruction, asin, price, options,
  reward}`` with the reward upstream's ``get_reward`` gave (spaCy 3.8 + ``en_core_web_sm`` 3.8).

``search_agreement`` compares a backend with Lucene per query: the same page-1 *set* (top 10),
the same top-1 product, the same number of hits (<= 50). ``reward_agreement`` recomputes every
purchase's reward and counts exact matches (|difference| < 1e-9). ``benchmarks/webshop_reference.py``
prints both; ``tests/test_webshop_golden.py`` asserts thresholds on the vendored subset.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsr_verl.envs.webshop.nouns import NounExtractor
from tsr_verl.envs.webshop.reward import get_reward
from tsr_verl.envs.webshop.schema import Catalog, Goal, SearchBackend

PAGE = 10
"""Results per page: page-1 agreement compares the top ``PAGE`` as sets."""


@dataclass(frozen=True)
class LuceneCase:
    """One query and real Lucene's ranked hits for it."""

    query: str
    hits: tuple[tuple[str, float], ...]
    """``(ASIN, score)`` best first, at most 50."""


@dataclass
class SearchAgreement:
    """How often a backend agrees with Lucene over a set of queries."""

    queries: int = 0
    page1: int = 0
    """Queries whose top-``PAGE`` set equals Lucene's."""
    top1: int = 0
    """Queries whose first hit equals Lucene's (both empty counts as equal)."""
    hit_count: int = 0
    """Queries with as many hits as Lucene (both capped at 50)."""
    misses: list[str] = field(default_factory=list)
    """Queries whose page-1 set differs."""

    def rates(self) -> dict[str, float]:
        """``page1``, ``top1``, ``hit_count`` as fractions of ``queries``."""
        n = max(self.queries, 1)
        return {"page1": self.page1 / n, "top1": self.top1 / n, "hit_count": self.hit_count / n}


@dataclass
class RewardAgreement:
    """How often the reimplemented reward equals upstream's."""

    rows: int = 0
    exact: int = 0
    extractor: dict[str, str] = field(default_factory=dict)
    """``NounExtractor.describe()`` of the extractor used."""
    misses: list[dict[str, Any]] = field(default_factory=list)
    """Rows that differ, with ``ours`` added."""

    def rate(self) -> float:
        return self.exact / max(self.rows, 1)


def load_lucene(folder: Path, limit: int | None = None) -> list[LuceneCase]:
    """The ``queries.txt`` / ``lucene_top50.txt`` pairs of a reference folder (first ``limit``)."""
    queries = (folder / "queries.txt").read_text(encoding="utf-8").split("\n")
    ranks = (folder / "lucene_top50.txt").read_text(encoding="utf-8").split("\n")
    if queries and queries[-1] == "":
        queries, ranks = queries[:-1], ranks[: len(queries) - 1]
    if len(ranks) < len(queries):
        ranks += [""] * (len(queries) - len(ranks))
    cases = []
    for query, line in zip(queries, ranks, strict=False):
        hits = tuple((asin, float(score)) for asin, _, score in (p.rpartition(":") for p in line.split()))
        cases.append(LuceneCase(query, hits))
    return cases[:limit]


def load_rewards(folder: Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The purchase rows of ``upstream_rewards.json`` (first ``limit``)."""
    rows = json.loads((folder / "upstream_rewards.json").read_text(encoding="utf-8"))
    return rows[:limit]


def search_agreement(backend: SearchBackend, catalog: Catalog, cases: Sequence[LuceneCase]) -> SearchAgreement:
    """Compare ``backend``'s top 50 with Lucene's for every case."""
    out = SearchAgreement()
    for case in cases:
        ours = [catalog.product(i).asin for i in backend.search(case.query, 50)]
        theirs = [asin for asin, _ in case.hits]
        out.queries += 1
        out.top1 += ours[:1] == theirs[:1]
        out.hit_count += len(ours) == len(theirs)
        if set(ours[:PAGE]) == set(theirs[:PAGE]):
            out.page1 += 1
        else:
            out.misses.append(case.query)
    return out


def goal_of(row: dict[str, Any]) -> Goal:
    """The ``schema.Goal`` of a reward row (upstream's goal fields)."""
    g = row["goal"]
    options = g["goal_options"]
    return Goal(
        asin=row["goal_asin"],
        instruction_text=row["instruction"],
        attributes=tuple(g["attributes"]),
        goal_options=dict(options) if isinstance(options, dict) else tuple(options),
        price_upper=float(g["price_upper"]),
        query=g["query"],
        category=g.get("category", ""),
        product_category=g["product_category"],
        name=g["name"],
    )


def reward_agreement(catalog: Catalog, rows: Sequence[dict[str, Any]], nouns: NounExtractor) -> RewardAgreement:
    """Recompute each row's reward with ``nouns`` and count the rows equal to upstream's."""
    out = RewardAgreement(extractor=nouns.describe())
    for row in rows:
        product = catalog.product(catalog.index_of(row["asin"]))
        ours = get_reward(goal_of(row), product, row["options"], float(row["price"]), nouns=nouns).reward
        out.rows += 1
        if abs(ours - float(row["reward"])) < 1e-9:
            out.exact += 1
        else:
            out.misses.append({**row, "ours": ours})
    return out
