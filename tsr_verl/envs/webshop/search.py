"""WebShop search backends: BM25 over each product's ``catalog.search_text(i)``.

Upstream queries a pyserini (Anserini 0.25, Lucene 9) index: ``DefaultEnglishAnalyzer``
(StandardTokenizer -> English possessive filter -> lower-case -> Lucene's 33 English stop words
-> Porter stemmer) and BM25 with k1=0.9, b=0.4; the query is analysed the same way and run as a
bag of words (a repeated term counts twice); the top 50 hits are kept, only documents sharing a
term with the query are returned, and equal scores keep index order.

* ``bm25s`` (default, no JVM): Lucene's analysis as ``analysis.analyze`` reimplements it (UAX#29
  word boundaries for ``:`` and ``.``, Lucene's Porter variant in ``porter.py``) and Lucene's
  BM25 arithmetic: idf ``ln(1 + (N - df + 0.5) / (df + 0.5))``, per-term score
  ``w - w / (1 + tf / (k1 (1 - b + b dl / avgdl)))`` in float32, where ``dl`` is the document
  length after Lucene's one-byte norm (``analysis.quantized_length``) and ``avgdl`` the exact
  mean; the per-document sum is accumulated in double and rounded to float, as Lucene does. The
  per-term scores are precomputed into a ``bm25s.BM25`` index (``LuceneBM25`` overrides its
  ``build_index_from_ids`` hook), saved with ``BM25.save`` and loaded with ``mmap=True`` so
  processes share the page cache. Scoring sums the term columns with ``np.bincount``; ties go
  to the lower catalog index. On the real 100-product reference set (``docs/webshop.md``) it
  returns Lucene's page-1 set for >= 95% of 429 queries.
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
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from tsr_verl.envs.webshop.analysis import LUCENE_STOP_WORDS, analyze, quantized_length  # noqa: F401 - re-exported
from tsr_verl.envs.webshop.schema import SearchBackend

INDEX_FORMAT = 2
"""Bumped whenever the analyzer or on-disk layout changes (invalidates every cached index).
2: Lucene tokenizer rules, Lucene's Porter variant, quantised document lengths."""
TOP_K = 50
"""Upstream keeps the best 50 hits of a search."""


class TextCatalog(Protocol):
    """What a backend needs from a catalog (``schema.Catalog`` provides it)."""

    def __len__(self) -> int: ...

    def search_text(self, index: int) -> str: ...


class Analyzer:
    """Lucene ``DefaultEnglishAnalyzer`` text -> terms (``analysis.analyze``)."""

    def __call__(self, text: str) -> list[str]:
        return analyze(text)


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


def cached_index(
    cache_dir: Path | None, backend: str, params: dict[str, Any], fingerprint: str, build: Callable[[Path], None]
) -> Path | None:
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


def lucene_bm25_columns(docs: list[list[int]], n_vocab: int, k1: float, b: float) -> dict[str, Any]:
    """Per-term score columns (CSC: ``data``/``indices``/``indptr`` over term ids) of Lucene 9's
    ``BM25Similarity`` for documents given as term-id lists, with query boost 1."""
    n_docs = len(docs)
    lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=n_docs)
    table = np.array([quantized_length(n) for n in range(int(lengths.max(initial=0)) + 1)], dtype=np.float32)
    avgdl = np.float32(lengths.sum() / n_docs) if n_docs and lengths.sum() else np.float32(1.0)
    one, k1f, bf = np.float32(1.0), np.float32(k1), np.float32(b)
    norm_inverse = one / (k1f * ((one - bf) + bf * table[lengths] / avgdl))  # Lucene's per-norm cache
    terms = np.fromiter((t for d in docs for t in d), dtype=np.int64, count=int(lengths.sum()))
    owners = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    keys, tf = np.unique(terms * max(n_docs, 1) + owners, return_counts=True)  # sorted: term, then doc
    term_of, doc_of = keys // max(n_docs, 1), keys % max(n_docs, 1)
    df = np.bincount(term_of, minlength=n_vocab).astype(np.float64)
    idf = np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)  # (float) Math.log(...)
    weight = idf[term_of]
    data = weight - weight / (one + tf.astype(np.float32) * norm_inverse[doc_of])
    indptr = np.concatenate([[0], np.cumsum(np.bincount(term_of, minlength=n_vocab))]).astype(np.int64)
    return {"data": data.astype(np.float32), "indices": doc_of.astype(np.int32), "indptr": indptr, "num_docs": n_docs}


def lucene_bm25_class() -> type:
    """``bm25s.BM25`` with Lucene's exact scores (``build_index_from_ids`` is bm25s' override hook)."""
    import bm25s  # noqa: PLC0415 - keep import time low for modules that only need schemas

    class LuceneBM25(bm25s.BM25):  # type: ignore[misc]
        def build_index_from_ids(
            self,
            unique_token_ids: list[int],
            corpus_token_ids: list[list[int]],
            show_progress: bool = True,
            leave_progress: bool = False,
        ) -> dict[str, Any]:
            self.nonoccurrence_array = None  # only BM25L/BM25+ use it; bm25s' save reads it
            return lucene_bm25_columns(corpus_token_ids, len(unique_token_ids), self.k1, self.b)

    return LuceneBM25


class BM25sBackend:
    """Default backend: Lucene-exact BM25 stored as a bm25s index, mmap-loaded, stable top-k."""

    name = "bm25s"

    def __init__(
        self,
        catalog: TextCatalog,
        cache_dir: Path | None = None,
        k1: float = 0.9,
        b: float = 0.4,
        progress: bool | None = None,
    ) -> None:
        import bm25s  # noqa: PLC0415 - keep import time low for modules that only need schemas

        self.analyze = Analyzer()
        self.params = {"k1": k1, "b": b, "method": "lucene9", "bm25s": bm25s.__version__}
        show = len(catalog) >= 20_000 if progress is None else progress

        def fit() -> Any:
            texts = (catalog.search_text(i) for i in range(len(catalog)))
            tokens = [self.analyze(t) for t in progress_bar(texts, len(catalog), "bm25s: analysing", show)]
            model = lucene_bm25_class()(k1=k1, b=b, method="lucene", dtype="float32")
            model.index(tokens, show_progress=show)
            return model

        folder = cached_index(
            cache_dir,
            self.name,
            self.params,
            catalog_fingerprint(catalog) if cache_dir else "",
            lambda tmp: fit().save(str(tmp), show_progress=False),
        )
        model = fit() if folder is None else bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        self.folder = folder
        self._vocab: dict[str, int] = model.vocab_dict
        self._data, self._rows, self._ptr = (model.scores[k] for k in ("data", "indices", "indptr"))
        self._n = int(model.scores["num_docs"])

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every document for ``query`` (0 where no term matches), float32 values.

        A term the query repeats ``c`` times is boosted ``c``-fold (Anserini's bag of words);
        per-document sums are accumulated in double and rounded to float, as Lucene's scorers do."""
        counts = Counter(t for t in self.analyze(query) if t in self._vocab)
        if not counts:
            return np.zeros(self._n, dtype=np.float64)
        rows, vals = [], []
        for term, count in counts.items():
            i = self._vocab[term]
            rows.append(self._rows[self._ptr[i] : self._ptr[i + 1]])
            column = np.asarray(self._data[self._ptr[i] : self._ptr[i + 1]], dtype=np.float32)
            vals.append(column * np.float32(count) if count > 1 else column)
        total = np.bincount(np.concatenate(rows), weights=np.concatenate(vals).astype(np.float64), minlength=self._n)
        return total.astype(np.float32).astype(np.float64)

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
