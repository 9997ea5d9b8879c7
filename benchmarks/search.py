"""What each TSR strategy buys and costs, with one fixed random policy (no LLM needed).

The "policy" answers every turn with 1-2 random actions in RAGEN's format, or with junk that
names no action 30% of the time (a seeded hash of the episode, turn and call, so every strategy
faces the same policy). Search cannot make the policy smarter, only choose among its proposals,
so the gap to ``naive`` is what search adds at rollout time. Episodes come in GRPO-like groups:
``--group-size`` members share an env seed (a dataset row), each with its own policy draws and
its own search ``stream``, as ``tsr_agent`` runs them. Printed side by side in one run:

* ``kept invalid``: share of kept turns that executed no action (search must not exceed naive);
* ``zero-std``: share of groups whose members all got the same return (no GRPO signal);
* ``forks/streams``: independent scoring forks per episode, and how many of them replayed a
  random stream already used in the episode or its group (must be 0);
* cost per episode: proposals (candidates generated), env steps, wall time.

    python benchmarks/search.py [--groups 30] [--group-size 16] [--env sokoban frozenlake]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from tsr_verl.envs import TextEnv, make
from tsr_verl.search import EpisodeConfig, SearchConfig, SearchDriver, search_metrics
from tsr_verl.search.scripted import RandomPolicy

SCORERS = {"sokoban": "sokoban", "frozenlake": "frozenlake_risk"}
STRATEGIES = ("naive", "best_of_n", "beam", "lookahead", "trajectory_best_of_n")


@contextmanager
def fork_streams() -> Iterator[list[tuple[float, ...]]]:
    """Record the first draws of every independent fork's generator made inside the block."""
    seen: list[tuple[float, ...]] = []
    original = TextEnv.fork

    def fork(self: TextEnv, rng: str = "independent") -> TextEnv:
        child = original(self, rng=rng)  # type: ignore[arg-type]
        if rng == "independent":
            seen.append(tuple(copy.deepcopy(child.rng).random(2)))
        return child

    TextEnv.fork = fork  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        TextEnv.fork = original  # type: ignore[method-assign]


def evaluate(env_name: str, strategy: str, groups: int, group_size: int) -> dict[str, float]:
    scorer = None if strategy in ("naive", "trajectory_best_of_n") else SCORERS[env_name]
    config = SearchConfig(strategy=strategy, scorer=scorer)
    rows, zero_std, forks, reused = [], 0, 0, 0
    start = time.perf_counter()
    for seed in range(groups):
        returns = []
        with fork_streams() as seen:
            for member in range(group_size):
                env = make(env_name)
                env.reset(seed)
                driver = SearchDriver(RandomPolicy(env.actions, f"{seed}/{member}"), config, EpisodeConfig())
                result = asyncio.run(driver.run(env, seed=seed, stream=member))
                m = search_metrics(result)
                returns.append(result.best.total_return)
                rows.append(
                    (
                        result.best.total_return,
                        result.best.success,
                        m["tsr/kept_invalid"],
                        m["tsr/proposals"],
                        m["tsr/env_steps"],
                    )
                )
        zero_std += float(np.std(returns)) < 1e-9
        forks += len(seen)
        reused += len(seen) - len(set(seen))
    arr = np.array(rows, dtype=float).mean(axis=0)
    n = groups * group_size
    return {
        **dict(zip(("return", "success", "kept_invalid", "proposals", "env_steps"), arr, strict=True)),
        "zero_std": zero_std / groups,
        "forks": forks / n,
        "reused": reused,
        "ms": (time.perf_counter() - start) / n * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=30, help="groups (env seeds) per strategy")
    parser.add_argument("--group-size", type=int, default=16, help="episodes per group (GRPO's rollout.n)")
    parser.add_argument("--env", choices=sorted(SCORERS), nargs="*", default=sorted(SCORERS), help="environments")
    args = parser.parse_args()
    header = (
        f"{'strategy':<22}{'return':>8}{'success':>9}{'kept invalid':>14}{'zero-std':>10}{'forks':>8}"
        f"{'reused':>8}{'proposals':>11}{'env steps':>11}{'ms/ep':>8}"
    )
    for env_name in args.env:
        print(
            f"\n{env_name} (env defaults): {args.groups} groups x {args.group_size} episodes, random policy "
            "with 30% junk answers, M=4, B=2, D=2, per-episode means"
        )
        print(header)
        for strategy in STRATEGIES:
            r = evaluate(env_name, strategy, args.groups, args.group_size)
            print(
                f"{strategy:<22}{r['return']:>8.2f}{r['success']:>9.2f}{r['kept_invalid']:>14.1%}"
                f"{r['zero_std']:>10.0%}{r['forks']:>8.1f}{r['reused']:>8d}{r['proposals']:>11.1f}"
                f"{r['env_steps']:>11.1f}{r['ms']:>8.1f}"
            )


if __name__ == "__main__":
    main()
