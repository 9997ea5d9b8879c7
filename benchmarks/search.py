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
* cost per trained trajectory: proposals (candidates generated), tokens generated, env steps,
  wall time;
* group-coupled rows (``<strategy> coupled``, ``tsr_verl.search.group``): one search per group
  fills its ``--group-size`` members; ``distinct`` members (different action sequences) and the
  mean ``prefix`` of turns two members share.

    python benchmarks/search.py [--groups 30] [--group-size 16] [--env sokoban frozenlake] [--beam-width 2]

``--beam-width`` (B) sets every beam-based arm's width; an independent search's cost per
trained trajectory grows with B (B·M candidates per turn) while a coupled search's does not
(n beams of M for n members), so the coupled/independent cost ratio is about 1/B.
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
from tsr_verl.search import EpisodeConfig, SearchConfig, SearchDriver
from tsr_verl.search.group import group_metrics, search_group
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


def _play_group(env_name: str, config: SearchConfig, seed: int, n: int, coupled: bool) -> tuple[list, list]:
    """One group: its n trained trajectories, and the results of every search run for it."""
    if coupled:
        env = make(env_name)
        env.reset(seed)
        driver = SearchDriver(RandomPolicy(env.actions, f"{seed}/coupled"), config, EpisodeConfig())
        members, results = asyncio.run(search_group(driver, env, n, seed=seed, stream=0))
        return members, results
    results = []
    for member in range(n):
        env = make(env_name)
        env.reset(seed)
        driver = SearchDriver(RandomPolicy(env.actions, f"{seed}/{member}"), config, EpisodeConfig())
        results.append(asyncio.run(driver.run(env, seed=seed, stream=member)))
    return [r.best for r in results], results


def evaluate(
    env_name: str, strategy: str, groups: int, group_size: int, coupled: bool = False, beam_width: int = 2
) -> dict[str, float]:
    """Means over the trained trajectories of ``groups`` groups (``coupled``: one search per group)."""
    scorer = None if strategy in ("naive", "trajectory_best_of_n") else SCORERS[env_name]
    config = SearchConfig(strategy=strategy, scorer=scorer, beam_width=beam_width)
    rows, stats, forks, reused = [], [], 0, 0
    start = time.perf_counter()
    for seed in range(groups):
        with fork_streams() as seen:
            members, results = _play_group(env_name, config, seed, group_size, coupled)
        cost = {k: sum(getattr(r.cost, k) for r in results) for k in ("proposals", "env_steps", "proposal_calls")}
        for m in members:
            invalid = sum(not t.executed for t in m.context.turns) / max(1, len(m.context.turns))
            rows.append((m.total_return, m.success, invalid))
        spent = sum(r.cost.tokens_generated for r in results)
        stats.append(
            {
                **group_metrics(members, spent, cost["proposal_calls"]),
                "best": max(m.total_return for m in members),
                "proposals": cost["proposals"] / group_size,
                "env_steps": cost["env_steps"] / group_size,
            }
        )
        forks += len(seen)
        reused += len(seen) - len(set(seen))
    arr = np.array(rows, dtype=float).mean(axis=0)
    mean = {k: float(np.mean([g[k] for g in stats])) for k in stats[0]}
    return {
        **dict(zip(("return", "success", "kept_invalid"), arr, strict=True)),
        **mean,
        "forks": forks / (groups * group_size),
        "reused": reused,
        "ms": (time.perf_counter() - start) / (groups * group_size) * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=30, help="groups (env seeds) per strategy")
    parser.add_argument("--group-size", type=int, default=16, help="episodes per group (GRPO's rollout.n)")
    parser.add_argument("--env", choices=sorted(SCORERS), nargs="*", default=sorted(SCORERS), help="environments")
    parser.add_argument("--beam-width", type=int, default=2, help="B of beam and lookahead (the paper's: 2)")
    args = parser.parse_args()
    try:  # SearchConfig's own bounds, reported before any work
        SearchConfig(beam_width=args.beam_width)
    except ValueError as err:
        parser.error(str(err))
    header = (
        f"{'strategy':<28}{'return':>8}{'best':>7}{'success':>9}{'kept invalid':>14}{'zero-std':>10}"
        f"{'distinct':>10}{'prefix':>8}{'forks':>8}{'reused':>8}{'proposals':>11}{'tok/traj':>10}"
        f"{'env steps':>11}{'ms/ep':>8}"
    )
    arms = [(s, False) for s in STRATEGIES] + [(s, True) for s in STRATEGIES if s != "naive"]
    for env_name in args.env:
        print(
            f"\n{env_name} (env defaults): {args.groups} groups x {args.group_size} episodes, random policy "
            f"with 30% junk answers, M=4, B={args.beam_width}, D=2, means per trained trajectory (best: per group)"
        )
        print(header)
        for strategy, coupled in arms:
            r = evaluate(env_name, strategy, args.groups, args.group_size, coupled, args.beam_width)
            name = strategy + (" coupled" if coupled else "")
            print(
                f"{name:<28}{r['return']:>8.2f}{r['best']:>7.2f}{r['success']:>9.2f}{r['kept_invalid']:>14.1%}"
                f"{r['zero_std']:>10.0%}{r['distinct']:>10.1f}{r['shared_prefix']:>8.2f}{r['forks']:>8.1f}"
                f"{r['reused']:>8d}{r['proposals']:>11.1f}{r['tokens_per_trajectory']:>10.1f}"
                f"{r['env_steps']:>11.1f}{r['ms']:>8.1f}"
            )


if __name__ == "__main__":
    main()
