"""What each TSR strategy buys and costs, with one fixed random policy (no LLM needed).

The "policy" answers every turn with 1-2 random actions in RAGEN's format (a seeded hash of the
conversation, so every strategy faces the same policy). Search cannot make the policy smarter,
only choose among its proposals, so the gap to ``naive`` is what search adds at rollout time;
the cost columns are what it spends (per episode). Printed side by side in one run.

    python benchmarks/search.py [--episodes 100] [--env sokoban|frozenlake]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time

import numpy as np

from tsr_verl.envs import make
from tsr_verl.search import Candidate, Context, EpisodeConfig, SearchConfig, SearchDriver

SCORERS = {"sokoban": "sokoban", "frozenlake": "frozenlake_risk"}


class RandomPolicy:
    """Seeded pseudo-random answers: 1-2 actions, every 7th answer malformed."""

    def __init__(self, actions: tuple[str, ...], seed: int) -> None:
        self.actions, self.seed, self.calls = actions, seed, 0

    async def __call__(self, context: Context, k: int, *, greedy: bool = False) -> list[Candidate]:
        out = []
        for _ in range(k):
            h = hashlib.sha256(f"{self.seed}|{context.chat()}|{self.calls}".encode()).digest()
            self.calls += 1
            acts = [self.actions[b % len(self.actions)] for b in h[:2]][: 1 + h[2] % 2]
            text = "hmm" if h[3] % 7 == 0 else f"<think>.</think><answer>{' || '.join(acts)}</answer>"
            out.append(Candidate(text, tuple(range(8))))
        return out


def evaluate(env_name: str, strategy: str, episodes: int) -> dict[str, float]:
    scorer = None if strategy in ("naive", "trajectory_best_of_n") else SCORERS[env_name]
    config = SearchConfig(strategy=strategy, scorer=scorer)
    rows = []
    start = time.perf_counter()
    for seed in range(episodes):
        env = make(env_name)
        env.reset(seed)
        result = asyncio.run(SearchDriver(RandomPolicy(env.actions, seed), config, EpisodeConfig()).run(env, seed=seed))
        c = result.cost
        rows.append((result.best.total_return, result.best.success, c.proposals, c.proposal_calls, c.env_steps, c.forks,
                     c.tokens_kept / max(1, c.tokens_generated)))  # fmt: skip
    arr = np.array(rows, dtype=float).mean(axis=0)
    keys = ("return", "success", "proposals", "calls", "env_steps", "forks", "kept_frac")
    return {**dict(zip(keys, arr, strict=True)), "ms": (time.perf_counter() - start) / episodes * 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=100, help="episodes (seeds) per strategy")
    parser.add_argument("--env", choices=sorted(SCORERS), nargs="*", default=sorted(SCORERS), help="environments")
    args = parser.parse_args()
    header = (f"{'strategy':<22}{'return':>8}{'success':>9}{'vs naive':>10}{'proposals':>11}{'calls':>7}"
              f"{'env steps':>11}{'forks':>7}{'tokens kept':>13}{'ms/ep':>8}")  # fmt: skip
    for env_name in args.env:
        print(f"\n{env_name}: {args.episodes} episodes, paper settings (M=4, B=2, D=2), per-episode means")
        print(header)
        base = None
        for strategy in ("naive", "best_of_n", "beam", "lookahead", "trajectory_best_of_n"):
            r = evaluate(env_name, strategy, args.episodes)
            base = base if base is not None else r["success"]
            ratio = r["success"] / base if base else float("nan")
            print(f"{strategy:<22}{r['return']:>8.2f}{r['success']:>9.2f}{ratio:>9.1f}x{r['proposals']:>11.1f}"
                  f"{r['calls']:>7.1f}{r['env_steps']:>11.1f}{r['forks']:>7.1f}{r['kept_frac']:>12.0%}{r['ms']:>8.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
