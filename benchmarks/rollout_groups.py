"""GRPO-group arms of ``rollout_quality.py``: naive vs independent vs coupled TSR at equal n, B, M.

A group is ``n`` episodes of one env seed (a dataset row with ``rollout.n = n``), as veRL's GRPO
sees it. The arms, all at one fixed policy and on the same seeds:

* ``naive``: n naive episodes per seed;
* ``<strategy>``: n independent searches per seed (streams 0..n-1), the best path of each is the
  member (``tsr.group_mode=independent``, what ``tsr_agent`` did before group coupling);
* ``<strategy> coupled``: one search per seed (``tsr_verl.search.group.search_group``) whose n
  best distinct trajectories are the members (``tsr.group_mode=coupled``).

Per arm: mean return of the members and best return per group; the std of the returns within a
group (mean and quartiles over groups) and the share of groups with zero std (no GRPO signal);
distinct members per group; tokens generated per trained trajectory; wall time (every group of
an arm runs concurrently against the one engine, as in a veRL rollout). Imported by
``rollout_quality.py``; nothing here loads a model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

import numpy as np

from tsr_verl.envs import make
from tsr_verl.search import EpisodeConfig, SearchConfig, SearchDriver
from tsr_verl.search.group import group_metrics, search_group
from tsr_verl.search.types import SearchResult, Trajectory

# A factory of fresh proposers: one per independent search, named by the key it is given.
PolicyFactory = Callable[[str], object]


async def _one_group(
    make_policy: PolicyFactory,
    env_name: str,
    env_cfg: dict,
    config: SearchConfig,
    episode: EpisodeConfig,
    seed: int,
    n: int,
    coupled: bool,
) -> tuple[list[Trajectory], list[SearchResult]]:
    """The n members of the group of ``seed`` and every search run for it."""
    if coupled:
        env = make(env_name, **env_cfg)
        env.reset(seed)
        driver = SearchDriver(make_policy(f"{env_name}-{config.strategy}-coupled-{seed}"), config, episode)
        return await search_group(driver, env, n, seed=seed, stream=0)

    async def member(i: int) -> SearchResult:
        env = make(env_name, **env_cfg)
        env.reset(seed)
        driver = SearchDriver(make_policy(f"{env_name}-{config.strategy}-{seed}-{i}"), config, episode)
        return await driver.run(env, seed=seed, stream=i)

    results = list(await asyncio.gather(*(member(i) for i in range(n))))
    return [r.best for r in results], results


async def run_group_arm(
    make_policy: PolicyFactory,
    env_name: str,
    env_cfg: dict,
    config: SearchConfig,
    episode: EpisodeConfig,
    seeds: Sequence[int],
    n: int,
    coupled: bool,
) -> dict:
    """One arm over the groups of ``seeds`` (all concurrently); means per group, see module doc."""
    start = time.perf_counter()
    groups = await asyncio.gather(
        *(_one_group(make_policy, env_name, env_cfg, config, episode, s, n, coupled) for s in seeds)
    )
    wall = time.perf_counter() - start
    stats, stds, tokens = [], [], 0
    for members, results in groups:
        spent = sum(r.cost.tokens_generated for r in results)
        tokens += spent
        calls = sum(r.cost.proposal_calls for r in results)
        returns = [m.total_return for m in members]
        stds.append(float(np.std(returns)))
        stats.append(
            {
                **group_metrics(members, spent, calls),
                "return": float(np.mean(returns)),
                "best": max(returns),
                "success": float(np.mean([m.success for m in members])),
            }
        )
    mean = {k: float(np.mean([g[k] for g in stats])) for k in stats[0]}
    return {
        **mean,
        "std_mean": float(np.mean(stds)),
        "std_quartiles": [float(q) for q in np.quantile(stds, [0.25, 0.5, 0.75])],
        "tokens_generated": tokens,
        "wall_s": wall,
        "groups": len(seeds),
        "group_size": n,
    }


def print_group_table(env_name: str, rows: dict[str, dict]) -> None:
    """The arms of one env side by side; ratios are to the independent arm of the same strategy."""
    first = next(iter(rows.values()))
    print(f"\n{env_name}: {first['groups']} groups x {first['group_size']} members (same seeds for every arm)")
    print(
        f"{'arm':<28}{'return':>8}{'best':>7}{'success':>9}{'std':>7}{'std q1/q2/q3':>17}{'zero-std':>10}"
        f"{'distinct':>10}{'tok/traj':>10}{'x indep':>9}{'wall s':>8}"
    )
    for name, r in rows.items():
        independent = rows.get(name.removesuffix(" coupled")) if name.endswith(" coupled") else None
        ratio = f"{r['tokens_per_trajectory'] / independent['tokens_per_trajectory']:.2f}x" if independent else "-"
        q = "/".join(f"{x:.2f}" for x in r["std_quartiles"])
        print(
            f"{name:<28}{r['return']:>8.2f}{r['best']:>7.2f}{r['success']:>9.1%}{r['std_mean']:>7.2f}{q:>17}"
            f"{r['zero_std']:>10.0%}{r['distinct']:>10.1f}{r['tokens_per_trajectory']:>10.1f}{ratio:>9}"
            f"{r['wall_s']:>8.0f}"
        )
