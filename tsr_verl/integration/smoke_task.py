"""A trivial single-turn task for checking that the veRL training path works end to end.

Prompt: "Name one <category>. Answer with a single word." Reward: ``1 / number of words`` in the
reply (0 for an empty reply), so a one-word answer scores 1. It is dense and varies between
samples of any model -- even a random one -- so GRPO groups have non-zero variance and the policy
gradient is not identically zero. It is a plumbing check, not a benchmark; the TSR recipes live in
``recipes/``. Used by ``recipes/smoke`` and the ``slow`` end-to-end test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tsr_verl.io import write_parquet

CATEGORIES = (
    "animal",
    "colour",
    "fruit",
    "vegetable",
    "country",
    "city",
    "planet",
    "metal",
    "tree",
    "flower",
    "bird",
    "fish",
    "musical instrument",
    "sport",
    "language",
    "tool",
)
DATA_SOURCE = "tsr_verl/smoke_one_word"


def make_rows(n: int, seed_offset: int = 0) -> list[dict[str, Any]]:
    """``n`` rows in veRL's RL-dataset schema (chat ``prompt``, ``reward_model``, ``extra_info``)."""
    rows = []
    for i in range(n):
        category = CATEGORIES[(i + seed_offset) % len(CATEGORIES)]
        rows.append(
            {
                "data_source": DATA_SOURCE,
                "prompt": [{"role": "user", "content": f"Name one {category}. Answer with a single word."}],
                "ability": "smoke",
                "reward_model": {"style": "rule", "ground_truth": category},
                "extra_info": {"index": i + seed_offset, "category": category},
            }
        )
    return rows


def prepare_data(out_dir: Path, n_train: int = 64, n_val: int = 16) -> tuple[Path, Path]:
    """Write ``train.parquet`` and ``val.parquet`` under ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    train = write_parquet(make_rows(n_train), out_dir / "train.parquet")
    val = write_parquet(make_rows(n_val, seed_offset=n_train), out_dir / "val.parquet")
    return train, val


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None, **_: Any) -> float:
    """veRL custom reward: 1 / number of words in the reply, 0 when it is empty."""
    words = solution_str.split()
    return 1.0 / len(words) if words else 0.0
