"""WebShop reference check: this reimplementation vs upstream's on real data.

Compares, on a reference folder (``tsr_verl/envs/webshop/reference.py`` describes the layout):

* search: per query, this backend's top 50 vs real Lucene's (Anserini 0.25, BM25 k1=0.9 b=0.4):
  page-1 agreement (same top-10 *set*), top-1 agreement, hit-count agreement;
* reward: per purchase, the recomputed reward vs upstream ``get_reward``'s value (exact match,
  |difference| < 1e-9), with the configured noun extractor (default spaCy + en_core_web_sm 3.8).

    python benchmarks/webshop_reference.py --ref-dir ../shared/webshop_reference   # 429 queries, 1,253 rows
    python benchmarks/webshop_reference.py            # the vendored subset in tests/fixtures/webshop
    python benchmarks/webshop_reference.py --nouns heuristic --backend tantivy --show-misses 5
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tsr_verl.envs.webshop import reference as ref
from tsr_verl.envs.webshop.nouns import get_noun_extractor
from tsr_verl.envs.webshop.search import make_backend
from tsr_verl.envs.webshop.store import open_catalog

REPO = Path(__file__).resolve().parent.parent
VENDORED = REPO / "tests" / "fixtures" / "webshop"


def default_ref_dir() -> Path:
    """``$TSR_VERL_WEBSHOP_REFERENCE``, else ``../shared/webshop_reference`` next to the repo, else the vendored subset."""
    env = os.environ.get("TSR_VERL_WEBSHOP_REFERENCE")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "webshop_reference"
    return shared if (shared / "queries.txt").exists() else VENDORED


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ref-dir", type=Path, default=None, help="reference folder (default: see default_ref_dir)")
    p.add_argument("--backend", default="bm25s", help="search backend (bm25s, tantivy, pyserini)")
    p.add_argument("--nouns", default="spacy", choices=("spacy", "heuristic"), help="reward noun extractor")
    p.add_argument("--queries", type=int, default=None, help="check only the first N queries")
    p.add_argument("--rewards", type=int, default=None, help="check only the first N purchases")
    p.add_argument("--show-misses", type=int, default=0, help="print up to N disagreeing queries/rows")
    args = p.parse_args()
    folder = args.ref_dir or default_ref_dir()

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache:
        catalog = open_catalog(folder / "raw", "small", cache, progress=False)
        backend = make_backend(args.backend, catalog, None, progress=False)
        search = ref.search_agreement(backend, catalog, ref.load_lucene(folder, args.queries))
        reward = ref.reward_agreement(catalog, ref.load_rewards(folder, args.rewards), get_noun_extractor(args.nouns))
    rates = search.rates()
    print(f"reference: {folder} ({len(catalog)} products)")
    print(f"search backend {args.backend}: {search.queries} queries vs Lucene top-50")
    print(f"  page-1 agreement (top-10 set): {search.page1}/{search.queries} = {rates['page1']:.2%}")
    print(f"  top-1 agreement:               {search.top1}/{search.queries} = {rates['top1']:.2%}")
    print(f"  hit-count agreement:           {search.hit_count}/{search.queries} = {rates['hit_count']:.2%}")
    print(f"reward ({reward.extractor['name']}: {reward.extractor['version']}): {reward.rows} purchases")
    print(f"  exact match with upstream:     {reward.exact}/{reward.rows} = {reward.rate():.2%}")
    for query in search.misses[: args.show_misses]:
        print(f"  page-1 differs: {query!r}")
    for row in reward.misses[: args.show_misses]:
        print(f"  reward differs: {row['asin']} {row['options']} upstream {row['reward']:.4f} ours {row['ours']:.4f}")
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
