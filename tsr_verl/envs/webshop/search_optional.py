"""Optional WebShop search backends: ``tantivy`` (fast) and ``pyserini`` (exact Lucene).

Both index the same ``Analyzer`` output as the default ``bm25s`` backend (``search.py`` explains
the analyzer, the cache layout and how each backend differs from upstream's Lucene ranking).
Their packages are imported only when the backend is built.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tsr_verl.envs.webshop.search import TOP_K, Analyzer, TextCatalog, cached_index, catalog_fingerprint, progress_bar


class TantivyBackend:
    """Optional fast backend (``pip install tantivy``); BM25 k1=1.2, b=0.75 fixed by tantivy."""

    name = "tantivy"

    def __init__(self, catalog: TextCatalog, cache_dir: Path | None = None, progress: bool | None = None) -> None:
        try:
            import tantivy  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ImportError("search backend 'tantivy' needs the tantivy package: pip install tantivy") from None
        self._t = tantivy
        self.analyze = Analyzer()
        builder = tantivy.SchemaBuilder()
        builder.add_text_field("text", tokenizer_name="whitespace", index_option="freq")
        builder.add_unsigned_field("idx", fast=True, indexed=False, stored=False)
        self._schema = builder.build()
        show = len(catalog) >= 20_000 if progress is None else progress

        def fill(index: Any) -> None:
            writer = index.writer(heap_size=256_000_000, num_threads=1)
            for i in progress_bar(range(len(catalog)), len(catalog), "tantivy: indexing", show):
                doc = tantivy.Document()
                doc.add_text("text", " ".join(self.analyze(catalog.search_text(i))))
                doc.add_unsigned("idx", i)
                writer.add_document(doc)
            writer.commit()
            writer.wait_merging_threads()

        params = {"tantivy": tantivy.__version__}
        folder = cached_index(
            cache_dir,
            self.name,
            params,
            catalog_fingerprint(catalog) if cache_dir else "",
            lambda tmp: fill(tantivy.Index(self._schema, path=str(tmp))),
        )
        self.folder = folder
        if folder is None:
            self._index = tantivy.Index(self._schema)
            fill(self._index)
        else:
            self._index = tantivy.Index.open(str(folder))
        self._index.reload()
        self._searcher = self._index.searcher()

    def search_scored(self, query: str, top_k: int = TOP_K) -> list[tuple[int, float]]:
        """``(catalog index, score)`` best first; ties by lower index among the fetched hits."""
        t = self._t
        counts: dict[str, int] = {}
        for term in self.analyze(query):
            counts[term] = counts.get(term, 0) + 1
        if not counts:
            return []
        clauses = []
        for term, n in counts.items():
            q = t.Query.term_query(self._schema, "text", term)
            clauses.append((t.Occur.Should, q if n == 1 else t.Query.boost_query(q, float(n))))
        hits = self._searcher.search(t.Query.boolean_query(clauses), top_k + 16, count=False).hits
        idx = self._searcher.fast_field_values("idx", [addr for _, addr in hits])
        ranked = sorted(zip(idx, (s for s, _ in hits), strict=True), key=lambda p: (-p[1], p[0]))
        return [(int(i), float(s)) for i, s in ranked[:top_k]]

    def search(self, query: str, top_k: int = TOP_K) -> list[int]:
        return [i for i, _ in self.search_scored(query, top_k)]


class PyseriniBackend:
    """Exact Lucene ranking via pyserini (UNTESTED here: needs ``pip install pyserini==0.25.0``,
    JDK 17 and ``OPENAI_API_KEY`` set to any value). Needs a ``cache_dir`` for its index."""

    name = "pyserini"

    def __init__(self, catalog: TextCatalog, cache_dir: Path | None = None, k1: float = 0.9, b: float = 0.4) -> None:
        try:
            from pyserini.search.lucene import LuceneSearcher  # noqa: PLC0415 - optional dependency
        except ImportError:
            raise ImportError(
                "search backend 'pyserini' needs pyserini 0.25 and JDK 17: "
                "pip install pyserini==0.25.0 (see notes/webshop.md)"
            ) from None
        if cache_dir is None:
            raise ValueError("search backend 'pyserini' needs a cache_dir for its Lucene index")

        def build(tmp: Path) -> None:
            import subprocess  # noqa: PLC0415
            import sys  # noqa: PLC0415

            (tmp / "docs").mkdir()
            with open(tmp / "docs" / "docs.jsonl", "w", encoding="utf-8") as fh:
                for i in range(len(catalog)):
                    fh.write(json.dumps({"id": str(i), "contents": catalog.search_text(i)}) + "\n")
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pyserini.index.lucene",
                    "--collection",
                    "JsonCollection",
                    "--generator",
                    "DefaultLuceneDocumentGenerator",
                    "--threads",
                    "1",
                    "--input",
                    str(tmp / "docs"),
                    "--index",
                    str(tmp / "index"),
                    "--storePositions",
                    "--storeDocvectors",
                    "--storeRaw",
                ],
                check=True,
            )
            shutil.rmtree(tmp / "docs")

        folder = cached_index(cache_dir, self.name, {"k1": k1, "b": b}, catalog_fingerprint(catalog), build)
        self.folder = folder
        self._searcher = LuceneSearcher(str(folder / "index"))  # type: ignore[operator]
        self._searcher.set_bm25(k1, b)

    def search(self, query: str, top_k: int = TOP_K) -> list[int]:
        return [int(hit.docid) for hit in self._searcher.search(query.lower(), k=top_k)]
