"""WebShop search backends (``tsr_verl.envs.webshop.search``): analysis, Lucene BM25 scores,
deterministic ranking and ties, index caching, tantivy agreement, synthetic-catalog recall."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from tsr_verl.envs.webshop import search as search_mod
from tsr_verl.envs.webshop.schema import Product
from tsr_verl.envs.webshop.search import Analyzer, catalog_fingerprint, make_backend, top_k_stable


class TinyCatalog:
    """The least a backend needs: ``__len__`` and ``search_text`` (plus ``product``)."""

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def __len__(self) -> int:
        return len(self.texts)

    def search_text(self, index: int) -> str:
        return self.texts[index].lower()

    def product(self, index: int) -> Product:
        return Product(
            asin=f"B{index:09d}",
            title=self.texts[index],
            category="c",
            query="q",
            product_category="a › b",
            price=1.0,
            price_range=(1.0,),
            options={},
        )


def generated_texts(n: int, seed: int = 0) -> list[str]:
    """Product-like texts over a shared vocabulary (plenty of partial overlaps and repeats)."""
    rng = random.Random(seed)
    nouns = "shoe shirt jacket shampoo serum planter hose speaker charger cookies tea boots hoodie".split()
    adjs = "red blue black white wireless organic leather cotton portable vintage slim heavy".split()
    extra = "men's women's kids pack of 2 large small x-large gluten free fast charging waterproof".split()
    return [
        " ".join(
            [
                rng.choice(adjs),
                rng.choice(nouns),
                *rng.sample(extra, rng.randint(1, 6)),
                rng.choice(nouns),
                f"model{rng.randrange(40)}",
            ]
        )
        for _ in range(n)
    ]


def test_analyzer_is_lucene_like() -> None:
    terms = Analyzer()("The Men's Running-Shoes for Batteries, size 3.1 D.O.N. and Wi-Fi")
    assert terms == ["men", "run", "shoe", "batteri", "size", "3.1", "d.o.n", "wi", "fi"]


def test_bm25s_scores_are_lucene_bm25() -> None:
    texts = ["red shoe", "red red shirt shoe", "blue shirt", "green hat"]
    be = make_backend("bm25s", TinyCatalog(texts), None, progress=False)
    n, k1, b = 4, 0.9, 0.4
    avgdl = (2 + 4 + 2 + 2) / 4

    def term(tf: int, df: int, dl: int) -> float:
        idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
        return idf * tf / (tf + k1 * (1 - b + b * dl / avgdl))

    expected = [term(1, 2, 2), term(2, 2, 4), 0.0, 0.0]  # query "red": df=2
    assert be.scores("RED") == pytest.approx(expected, rel=1e-5)
    expected = [term(1, 2, 2) + term(1, 2, 2), term(2, 2, 4) + term(1, 2, 4), 0.0, 0.0]
    assert be.scores("red shoes") == pytest.approx(expected, rel=1e-5)
    assert be.search("red shoes") == [1, 0]  # only documents sharing a term are returned
    assert be.search("the of") == [] and be.search("unknownword") == []


def test_ranking_ties_go_to_lower_index() -> None:
    texts = ["blue shirt"] * 3 + ["red shoe"] + ["blue shirt"] * 40 + ["red shoe", "red shoe red"]
    for name in ("bm25s", "tantivy"):
        be = make_backend(name, TinyCatalog(texts), None, progress=False)
        assert be.search("red shoe", top_k=50) == [45, 3, 44], name
        assert be.search("blue shirt", top_k=5) == [0, 1, 2, 4, 5], name
        assert be.search("blue shirt") == [0, 1, 2, *range(4, 44)], name


def test_top_k_stable_matches_a_full_sort() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        scores = rng.integers(0, 5, size=200).astype(np.float64)  # many ties, some zeros
        k = int(rng.integers(1, 60))
        want = sorted((i for i in range(200) if scores[i] > 0), key=lambda i: (-scores[i], i))[:k]
        assert [i for i, _ in top_k_stable(scores, k)] == want


def test_index_cache_is_reused_and_invalidated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = generated_texts(120)
    first = make_backend("bm25s", TinyCatalog(texts), tmp_path, progress=False)
    assert first.folder is not None and (first.folder / "spec.json").exists()
    import bm25s

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("index rebuilt although a cached one exists")

    monkeypatch.setattr(bm25s.BM25, "index", no_build)
    again = make_backend("bm25s", TinyCatalog(list(texts)), tmp_path, progress=False)
    assert again.folder == first.folder
    assert again.search("red shoe") == first.search("red shoe")
    monkeypatch.undo()
    changed = make_backend("bm25s", TinyCatalog([*texts[:-1], "a different product"]), tmp_path, progress=False)
    other_params = make_backend("bm25s", TinyCatalog(texts), tmp_path, k1=1.2, progress=False)
    tantivy = make_backend("tantivy", TinyCatalog(texts), tmp_path, progress=False)
    folders = {first.folder, changed.folder, other_params.folder, tantivy.folder}
    assert len(folders) == 4 and all(f is not None and f.parent == tmp_path for f in folders)
    assert make_backend("tantivy", TinyCatalog(texts), tmp_path).folder == tantivy.folder
    assert changed.search("different") == [119]


def test_fingerprint_prefers_the_catalog_identity() -> None:
    cat = TinyCatalog(["a b", "c d"])
    assert catalog_fingerprint(cat) == catalog_fingerprint(TinyCatalog(["a b", "c d"]))
    assert catalog_fingerprint(cat) != catalog_fingerprint(TinyCatalog(["a b", "c e"]))
    cat.fingerprint = "store-v1-abc"  # type: ignore[attr-defined]
    assert catalog_fingerprint(cat) == "store-v1-abc"


def test_tantivy_agrees_with_bm25s_on_top_10() -> None:
    texts = generated_texts(400, seed=1)
    cat = TinyCatalog(texts)
    b, t = make_backend("bm25s", cat, None, progress=False), make_backend("tantivy", cat, None, progress=False)
    rng = random.Random(2)
    queries = [" ".join(rng.sample(texts[rng.randrange(400)].split(), 3)) for _ in range(60)]
    overlaps = [len(set(b.search(q, 10)) & set(t.search(q, 10))) / 10 for q in queries]
    assert np.mean(overlaps) >= 0.75, np.mean(overlaps)
    shoe = TinyCatalog(["women's boots", "men's shoe: size 10 (AND) +wide", "kids shoe"])
    for name in ("bm25s", "tantivy"):  # query-parser syntax is just text (upstream's parse_query fails here)
        assert make_backend(name, shoe, None).search("Men's Shoe: AND +wide (") == [1, 2], name


def test_make_backend_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    cat = TinyCatalog(["a"])
    with pytest.raises(ValueError, match="unknown WebShop search backend 'lucene'"):
        make_backend("lucene", cat, None)
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith(("pyserini", "tantivy")):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install pyserini"):
        make_backend("pyserini", cat, None)
    with pytest.raises(ImportError, match="pip install tantivy"):
        make_backend("tantivy", cat, None)
    assert set(search_mod.BACKENDS) == {"bm25s", "tantivy", "pyserini"}


@pytest.fixture(scope="module")
def synthetic_world(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, object, Path]:
    from tsr_verl.envs.webshop.goals import load_goals
    from tsr_verl.envs.webshop.store import open_catalog
    from tsr_verl.envs.webshop.synthetic import write_synthetic_catalog

    root = Path(tmp_path_factory.mktemp("webshop_search"))
    write_synthetic_catalog(root / "raw", n_products=300)
    catalog = open_catalog(root / "raw", "small", root / "cache", progress=False)
    return catalog, load_goals(catalog, "synthetic", progress=False), root / "cache"


@pytest.mark.parametrize("backend", ["bm25s", "tantivy"])
def test_goal_instruction_finds_goal_product_on_synthetic_catalog(synthetic_world: tuple, backend: str) -> None:
    catalog, goals, cache = synthetic_world
    be = make_backend(backend, catalog, cache, progress=False)
    sample = list(goals)[:200]
    top10 = [catalog.index_of(g.asin) in be.search(g.instruction_text)[:10] for g in sample]
    assert np.mean(top10) >= 0.95  # measured: 1.0 for both backends (brand + noun are distinctive)
    assert len(be.search(sample[0].instruction_text)) == 50
