"""WebShop search backends: BM25 over each product's ``catalog.search_text(i)``.

Upstream queries a pyserini (Lucene) index built with Anserini's defaults: ``DefaultEnglishAnalyzer``
(StandardTokenizer -> English possessive filter -> lower-case -> Lucene's 33 English stop words
-> Porter stemmer) and BM25 with k1=0.9, b=0.4; the query is lower-cased, analysed the same way
and run as a bag of words (a repeated term counts twice); the top 50 hits are kept, only
documents sharing a term with the query are returned, and equal scores keep index order.

* ``bm25s`` (default, pure Python): ``analyze`` approximates that analyzer (UAX#29-like word
  tokens, ``3.1``/``d.o.n`` kept whole, hyphens split; PyStemmer's original ``porter``, which is
  Lucene's PorterStemFilter, not Porter2), and bm25s' ``lucene`` variant (Lucene's idf
  ``ln(1 + (N - df + 0.5) / (df + 0.5))`` and length normalisation). Differences from Lucene:
  exact document lengths (Lucene stores them lossily in one byte) and float sums in another
  order, so near-ties may order differently. The index is saved with ``BM25.save`` and loaded
  with ``mmap=True`` so processes share the page cache. Scoring sums the precomputed per-term
  score columns with ``np.bincount``; ties go to the lower catalog index.
* ``tantivy`` (optional, fast): the same ``analyze`` output indexed with tantivy's ``whitespace``
  tokenizer, queried as a boolean OR of term queries (duplicates boosted). Queries never go
  through tantivy's query parser (``parse_query`` rejects ``men's ...``; building the query from
  analysed terms also avoids ``parse_query_lenient``'s syntax guesses). tantivy's BM25 has fixed
  k1=1.2, b=0.75 (not configurable), so rankings differ slightly from Lucene's.
* ``pyserini`` (optional, exact Lucene; UNTESTED here: needs pyserini 0.25 + JDK 17).

Indexes live in ``cache_dir/search-<backend>-<key>`` where ``key`` hashes the catalog's identity,
the backend, its parameters and ``INDEX_FORMAT``; a folder is built under a file lock into a
temporary sibling and renamed into place, so a stale or half-written index is never read.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from tsr_verl.envs.webshop.schema import SearchBackend

INDEX_FORMAT = 1
"""Bumped whenever the analyzer or on-disk layout changes (invalidates every cached index)."""
TOP_K = 50
"""Upstream keeps the best 50 hits of a search."""
LUCENE_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
"""Lucene's ``EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`` (Anserini's default stop set)."""
_WORD = re.compile(r"[^\W_]+(?:(?:[_.'’]|(?<=\d),(?=\d))[^\W_]+)*", re.UNICODE)


class TextCatalog(Protocol):
    """What a backend needs from a catalog (``schema.Catalog`` provides it)."""

    def __len__(self) -> int: ...

    def search_text(self, index: int) -> str: ...


class Analyzer:
    """Lucene ``DefaultEnglishAnalyzer``-like text -> terms (see the module docstring)."""

    def __init__(self) -> None:
        import Stemmer  # noqa: PLC0415 - PyStemmer, a core dependency of the bm25s backend

        self._stem: Callable[[str], str] = Stemmer.Stemmer("porter", 100_000).stemWord

    def __call__(self, text: str) -> list[str]:
        out = []
        for word in _WORD.findall(text.lower()):
            if word.endswith(("'s", "’s")):
                word = word[:-2]
            if word and word not in LUCENE_STOP_WORDS:
                out.append(self._stem(word))
        return out


def catalog_fingerprint(catalog: TextCatalog) -> str:
    """The catalog's identity: its ``fingerprint`` (attribute or method), else a hash of its store
    ``manifest`` (which records the source files' sha256, tier and format), else a sha256 of all texts."""
    own = getattr(catalog, "fingerprint", None)
    if own is not None:
        return str(own() if callable(own) else own)
    manifest = getattr(catalog, "manifest", None)  # store.StoreCatalog: sources' sha256, tier, format
    if isinstance(manifest, Mapping):
        return "manifest:" + hashlib.sha256(json.dumps(manifest, sort_keys=True, default=str).encode()).hexdigest()
    digest = hashlib.sha256(str(len(catalog)).encode())
    for i in range(len(catalog)):
        digest.update(catalog.search_text(i).encode("utf-8") + b"\0")
    return digest.hexdigest()


def progress_bar(iterable: Any, total: int, desc: str, show: bool) -> Any:
    return tqdm(iterable, total=total, desc=desc, unit="doc", mininterval=1.0, disable=not show)


def cached_index(cache_dir: Path | None, backend: str, params: dict[str, Any], fingerprint: str,
                 build: Callable[[Path], None]) -> Path | None:
    """The folder of an index built by ``build(tmp_folder)``; built once per key, under a lock."""
    if cache_dir is None:
        return None
    spec = {"fingerprint": fingerprint, "backend": backend, "params": params, "format": INDEX_FORMAT}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    final = Path(cache_dir) / f"search-{backend}-{key}"
    if (final / "spec.json").exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with open(final.parent / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / "spec.json").exists():
            tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
            try:
                build(tmp)
                (tmp / "spec.json").write_text(json.dumps(spec, sort_keys=True, indent=1))
                shutil.rmtree(final, ignore_errors=True)
                os.replace(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    return final


def top_k_stable(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """The ``k`` best positive scores as ``(index, score)``, best first, ties by lower index."""
    if k <= 0:
        return []
    positive = np.flatnonzero(scores > 0)
    if len(positive) > k:
        kth = np.partition(scores[positive], len(positive) - k)[len(positive) - k]
        above = positive[scores[positive] > kth]
        tied = positive[scores[positive] == kth][: k - len(above)]
        positive = np.concatenate([above, tied])
    order = np.lexsort((positive, -scores[positive]))[:k]
    return [(int(i), float(scores[i])) for i in positive[order]]


class BM25sBackend:
    """Default backend: bm25s (Lucene BM25 variant), mmap-loaded, exact stable top-k."""

    name = "bm25s"

    def __init__(self, catalog: TextCatalog, cache_dir: Path | None = None, k1: float = 0.9,
                 b: float = 0.4, progress: bool | None = None) -> None:
        import bm25s  # noqa: PLC0415 - keep import time low for modules that only need schemas

        self.analyze = Analyzer()
        self.params = {"k1": k1, "b": b, "method": "lucene", "bm25s": bm25s.__version__}
        show = len(catalog) >= 20_000 if progress is None else progress

        def fit() -> Any:
            texts = (catalog.search_text(i) for i in range(len(catalog)))
            tokens = [self.analyze(t) for t in progress_bar(texts, len(catalog), "bm25s: analysing", show)]
            model = bm25s.BM25(k1=k1, b=b, method="lucene")
            model.index(tokens, show_progress=show)
            return model

        folder = cached_index(cache_dir, self.name, self.params, catalog_fingerprint(catalog) if cache_dir else "",
                              lambda tmp: fit().save(str(tmp), show_progress=False))
        model = fit() if folder is None else bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        self.folder = folder
        self._vocab: dict[str, int] = model.vocab_dict
        self._data, self._rows, self._ptr = (model.scores[k] for k in ("data", "indices", "indptr"))
        self._n = int(model.scores["num_docs"])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (0 where no term matches)."""
        ids = [self._vocab[t] for t in self.analyze(query) if t in self._vocab]
        if not ids:
            return np.zeros(self._n, dtype=np.float64)
        rows = np.concatenate([self._rows[self._ptr[i]:self._ptr[i + 1]] for i in ids])
        vals = np.concatenate([self._data[self._ptr[i]:self._ptr[i + 1]] for i in ids])
        return np.bincount(rows, weights=vals, minlength=self._n)

    def search_scored(self, query: str, top_k: int = TOP_K) -> list[tuple[int, float]]:
        """``(catalog index, score)`` of the best ``top_k`` hits, best first."""
        return top_k_stable(self.scores(query), top_k)

    def search(self, query: str, top_k: int = TOP_K) -> list[int]:
        return [i for i, _ in self.search_scored(query, top_k)]


BACKENDS: dict[str, str] = {
    "bm25s": "tsr_verl.envs.webshop.search:BM25sBackend",
    "tantivy": "tsr_verl.envs.webshop.search_optional:TantivyBackend",
    "pyserini": "tsr_verl.envs.webshop.search_optional:PyseriniBackend",
}
"""Backend name -> ``module:class`` (``make_backend``; the optional ones live in ``search_optional``)."""


def make_backend(name: str, catalog: TextCatalog, cache_dir: Path | None = None, **params: Any) -> SearchBackend:
    """The search backend ``name`` over ``catalog`` (index cached in ``cache_dir`` when given).

    ``params`` go to the backend (``progress``; ``k1``/``b`` for bm25s and pyserini). Raises
    ``ValueError`` for an unknown name and ``ImportError`` (naming the install command) when the
    backend's package is missing."""
    if name not in BACKENDS:
        raise ValueError(f"unknown WebShop search backend {name!r}; choose one of {sorted(BACKENDS)}")
    module, _, cls = BACKENDS[name].partition(":")
    backend = getattr(importlib.import_module(module), cls)
    return backend(catalog, None if cache_dir is None else Path(cache_dir), **params)
