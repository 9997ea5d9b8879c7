"""Group-coupled search: one search per prompt fills a whole GRPO group with distinct trajectories.

In ``independent`` mode (what ``tsr_agent`` does) each of the n members of a GRPO group runs its
own search and only its best path is trained: n searches per prompt, every other branch thrown
away, and members that tend to converge on the same return (no GRPO signal). ``coupled`` runs
**one** search per prompt whose final n complete trajectories become the n members, so the
branches the search paid for are trained on:

==========================  ===============================================================
strategy                    the one search (n = group size)
==========================  ===============================================================
``best_of_n``               a beam of width n, M candidates per beam per turn (per-turn
                            best-of-N over the whole group: the n best of the n·M children)
``beam`` / ``lookahead``    width max(B, n), M candidates per beam (and D-turn lookahead)
(per-turn, first turn)      ceil(n/B) copies of the start propose M each (B = 1 for best_of_n):
                            the same keep ratio as an independent search's first turn (B of M)
``trajectory_best_of_n``    max(M, 2n) whole episodes, the n best (the authors' "top 16 of 32")
==========================  ===============================================================

Every member is a genuine episode played on its own env copy with exactly the proposer's tokens
of its own turns (members may share a prefix of turns, as in Tree-GRPO). **Distinct** means a
different sequence of committed action lists; the n best distinct ones are taken in rank order,
and only when the tree has fewer than n distinct complete trajectories are the best remaining
(same actions, different text) added — ``distinct`` in :func:`group_metrics` reports it. Ties are
broken by the search's seeded key. ``naive`` has nothing to share and is refused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from itertools import combinations

from tsr_verl.envs.core import TextEnv
from tsr_verl.search.config import SearchConfig
from tsr_verl.search.driver import SearchDriver
from tsr_verl.search.nodes import action_history, distinct_first
from tsr_verl.search.types import Message, SearchResult, Trajectory

GROUP_MODES = ("independent", "coupled")


def coupled_config(config: SearchConfig, n: int) -> SearchConfig:
    """The config of the one search that fills a group of ``n`` (see the module table)."""
    if n < 1:
        raise ValueError(f"group size must be >= 1, got {n}")
    if config.strategy == "naive":
        raise ValueError("coupled groups need a search strategy: 'naive' has no branches to share")
    if config.strategy == "trajectory_best_of_n":
        episodes = max(config.num_candidates, 2 * n)
        return dataclasses.replace(config, num_candidates=episodes, return_top=episodes)
    width = max(1 if config.strategy == "best_of_n" else config.beam_width, n)
    strategy = "beam" if config.strategy == "best_of_n" else config.strategy
    return dataclasses.replace(config, strategy=strategy, beam_width=width, return_top=width, distinct_beams=True)


def first_turn_fan_out(config: SearchConfig, n: int) -> int:
    """Copies of the start that propose on the first turn of a coupled per-turn search: an
    independent search keeps B of its M first answers, so n members need ceil(n/B)·M of them."""
    if config.strategy == "trajectory_best_of_n":
        return 1
    keep = 1 if config.strategy == "best_of_n" else config.beam_width
    return -(-n // keep)


def action_key(trajectory: Trajectory) -> tuple[tuple[str, ...], ...]:
    """What makes two members distinct: the actions each turn executed."""
    return action_history(trajectory.context)


def pick_members(ranked: Sequence[Trajectory], n: int) -> list[Trajectory]:
    """The ``n`` best of ``ranked`` (best first), distinct action sequences before repeats."""
    if len(ranked) < n:
        raise ValueError(f"the search returned {len(ranked)} complete trajectories for a group of {n}")
    return distinct_first(ranked, action_key)[:n]


def shared_prefix(a: Trajectory, b: Trajectory) -> int:
    """Turns two members share from the start (the same proposed answer each turn)."""
    count = 0
    for x, y in zip(a.context.turns, b.context.turns, strict=False):
        if x.candidate != y.candidate:
            break
        count += 1
    return count


def group_metrics(members: Sequence[Trajectory], tokens_generated: int, proposal_calls: int) -> dict[str, float]:
    """Per-group statistics, the same for both modes: distinct members, mean shared-prefix turns
    over member pairs, whether all returns are equal (zero std: no GRPO signal), tokens generated
    per trained trajectory and proposer calls."""
    returns = [m.total_return for m in members]
    pairs = list(combinations(members, 2))
    return {
        "distinct": float(len({action_key(m) for m in members})),
        "shared_prefix": sum(shared_prefix(a, b) for a, b in pairs) / len(pairs) if pairs else 0.0,
        "zero_std": float(max(returns) - min(returns) < 1e-9),
        "tokens_per_trajectory": tokens_generated / len(members),
        "proposal_calls": float(proposal_calls),
    }


async def search_group(
    driver: SearchDriver,
    env: TextEnv,
    n: int,
    messages: Sequence[Message] | None = None,
    *,
    seed: int = 0,
    key: str = "",
    stream: int = 0,
    max_searches: int = 4,
) -> tuple[list[Trajectory], list[SearchResult]]:
    """Run the coupled search of ``driver``'s config for a group of ``n`` from ``env`` (already
    ``reset``; it is forked, never stepped); returns the n members (best first) and every search
    run (their costs). A tree narrower than n (all of the first turn's M children ended the
    episode) is topped up by another search on a fresh stream, at most ``max_searches`` in all."""
    config = coupled_config(driver.config, n)
    coupled = SearchDriver(driver.proposer, config, driver.episode, driver.scorer, driver.has_budget)
    results: list[SearchResult] = []
    ranked: list[Trajectory] = []
    while len(ranked) < n:
        if len(results) == max_searches:
            raise RuntimeError(f"{max_searches} coupled searches gave {len(ranked)} trajectories for a group of {n}")
        start = env.fork("copy")
        fan_out = first_turn_fan_out(driver.config, n)
        result = await coupled.run(
            start, messages, seed=seed, key=key, stream=stream + len(results) * 1_000_003, fan_out=fan_out
        )
        results.append(result)
        ranked += result.trajectories
    return pick_members(ranked, n), results
