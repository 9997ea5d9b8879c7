"""``tsr.group_mode=coupled`` inside veRL: the n sessions of one prompt share one search.

veRL 0.9.1's V1 worker (``verl.trainer.ppo.v1.agent_loop_tq.AgentLoopWorkerTQ._run_prompt``)
starts the ``rollout.n`` sessions of a prompt as asyncio tasks of **one** worker process, each
with a fresh agent-loop instance and the kwargs ``uid`` (the prompt) and ``session_id`` (0..n-1).
That is the rendezvous used here: the first session of a ``uid`` to arrive starts the group's
search (``tsr_verl.search.group.search_group``) as a task in a process-wide table; every session
awaits it and takes member number ``session_id``; the entry is removed when the last session has
taken its member. GRPO/GAE, the sampler and validation (``tsr_eval`` always plays alone) are
unchanged. A search that raises fails every session of the group the same way (env/search
errors: each returns the error episode, so the sampler drops the group; inference-server errors
propagate from every session, so veRL marks the prompt failed).
The group size is ``actor_rollout_ref.rollout.n``: a per-prompt ``__rollout_n__`` (which veRL
pops before the loop sees it) is not supported in this mode.
``tests/test_agent_loop.py`` pins these veRL internals (session ids 0..n-1 under one uid, one
event loop) with veRL's own classes.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tsr_verl.search import SearchCost, SearchResult, Trajectory
from tsr_verl.search.group import group_metrics

GroupSearch = tuple[Any, list[Trajectory], list[SearchResult]]
"""What the shared search returns: (its proposer, the n members best first, every search run)."""


@dataclass
class _Group:
    task: asyncio.Future[GroupSearch]
    size: int
    taken: set[int] = field(default_factory=set)


_GROUPS: dict[str, _Group] = {}
GROUP_KEYS = (
    "group_distinct",
    "group_shared_prefix",
    "group_zero_std",
    "group_tokens_per_trajectory",
    "group_proposal_calls",
)
"""Per-episode keys (``SearchResult.info``) of the group statistics (``search.group.group_metrics``)."""


async def join_group(uid: str, session_id: int, size: int, search: Callable[[], Awaitable[GroupSearch]]) -> GroupSearch:
    """Member ``session_id`` of prompt ``uid``'s group of ``size``: the first caller starts
    ``search()``, everyone awaits its result (or its exception)."""
    if not 0 <= session_id < size:
        raise ValueError(f"tsr group_mode=coupled: session_id {session_id} outside the group of {size} (rollout.n)")
    group = _GROUPS.get(uid)
    if group is None:
        group = _GROUPS[uid] = _Group(asyncio.ensure_future(search()), size)
    if session_id in group.taken:
        raise RuntimeError(f"tsr group_mode=coupled: session {session_id} of prompt {uid} joined twice")
    group.taken.add(session_id)
    if len(group.taken) == group.size:
        del _GROUPS[uid]  # the last member: the next use of this uid starts a new search
    return await asyncio.shield(group.task)


def pending_groups() -> int:
    """Groups whose sessions have not all joined yet (0 between steps)."""
    return len(_GROUPS)


def member_result(members: list[Trajectory], results: list[SearchResult], index: int) -> SearchResult:
    """The result session ``index`` trains: its own member, and 1/n of the group's search cost
    (so ``tsr/tokens_generated`` is tokens per trained trajectory in both group modes)."""
    n, me = len(members), members[index]
    cost = SearchCost(peeked=any(r.cost.peeked for r in results))
    for f in dataclasses.fields(SearchCost):
        if f.name != "peeked":
            setattr(cost, f.name, sum(getattr(r.cost, f.name) for r in results) / n)
    cost.tokens_kept = me.num_tokens
    spent = sum(r.cost.tokens_generated for r in results)
    calls = sum(r.cost.proposal_calls for r in results)
    info = {f"group_{k}": v for k, v in group_metrics(members, spent, calls).items()}
    return SearchResult([me], cost, results[0].tree, info, results[0].initial_observation)
