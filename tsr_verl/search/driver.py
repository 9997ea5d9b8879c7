"""The TSR search driver: plays one episode, choosing each turn among proposed candidates.

All per-turn strategies are one beam search with different sizes (see ``config.py``):
``naive`` = B1 x M1 without scoring, ``best_of_n`` = B1 x M, ``beam`` = B x M, ``lookahead`` =
B x M where each candidate's score includes D policy turns simulated on a fork.
``trajectory_best_of_n`` runs N naive episodes concurrently and keeps the best.

Each turn, for every live beam: one proposer call for M candidates (beams concurrently), each
candidate scored on fork(s) of the beam's env, then the top B children by ``value = return so
far + score`` (ties broken by a seeded random key) are committed: the winner's actions are
stepped on a copy of the beam's own env, so the committed path is a genuine episode whatever the
scoring forks saw. Only committed turns enter the returned trajectories.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from tsr_verl.envs.core import TextEnv
from tsr_verl.envs.parsing import ParsedTurn, parse_turn, step_turn
from tsr_verl.envs.prompts import initial_messages, listed_actions, turn_message
from tsr_verl.search.config import EpisodeConfig, SearchConfig
from tsr_verl.search.scorers import Evaluation, Scorer, get_scorer
from tsr_verl.search.types import (
    Candidate,
    Context,
    EnvTimer,
    Message,
    Proposer,
    SearchCost,
    SearchResult,
    Trajectory,
    TreeNode,
    TurnRecord,
)  # fmt: skip

T = TypeVar("T")


@dataclass
class _Node:
    """A partial trajectory: its own env, its conversation and its bookkeeping."""

    env: TextEnv
    context: Context
    ret: float = 0.0
    actions_used: int = 0
    end_reason: str | None = None
    value: float = 0.0
    tiebreak: float = 0.0
    node_id: int = 0

    @property
    def done(self) -> bool:
        return self.end_reason is not None


class SearchDriver:
    """Runs ``SearchConfig.strategy`` for one episode against an injected ``Proposer``."""

    def __init__(
        self,
        proposer: Proposer,
        config: SearchConfig | None = None,
        episode: EpisodeConfig | None = None,
        scorer: Scorer | None = None,
    ) -> None:
        self.proposer = proposer
        self.config = config or SearchConfig()
        self.episode = episode or EpisodeConfig()
        self.scorer = scorer or get_scorer(self.config.resolved_scorer)
        self.has_budget: Callable[[Context], Awaitable[bool]] | None = None
        """Optional async check run before each proposal; ``False`` ends that path with
        ``end_reason="budget"`` (the veRL loop uses it for ``response_length``)."""

    async def run(
        self, env: TextEnv, messages: Sequence[Message] | None = None, *, seed: int = 0, key: str = ""
    ) -> SearchResult:
        """Search from ``env``'s current state (already ``reset``). ``messages`` is the initial
        conversation (default: built from the env); ``seed`` seeds tie-breaking."""
        cfg, self.cost = self.config, SearchCost(peeked=self.config.score_rng == "copy")
        self.tree: list[TreeNode] | None = [] if cfg.record_tree else None
        self._ids, self._active = 0, 0
        if messages is None:
            messages = initial_messages(env, env.render(), self.episode.max_actions, self.episode.parse,
                                        self.episode.prompt)  # fmt: skip
        root = _Node(env, Context(tuple(messages), (), key), node_id=self._record(None, 0, "", None, 0.0, 0.0, False))
        rng = np.random.default_rng([cfg.seed, seed])
        if cfg.strategy == "trajectory_best_of_n":
            starts = [dataclasses.replace(root, env=self._fork(env, "copy")) for _ in range(cfg.num_candidates)]
            runs = [self._beam(s, 1, 1, 0, r, scored=False) for s, r in zip(starts, rng.spawn(len(starts)), strict=True)]
            finals = [beams[0] for beams in await asyncio.gather(*runs)]
            tiebreaks = rng.random(len(finals))
            for node, tb in zip(finals, tiebreaks, strict=True):
                node.tiebreak = float(tb)
        else:
            width, m, depth = {
                "naive": (1, 1, 0),
                "best_of_n": (1, cfg.num_candidates, 0),
                "beam": (cfg.beam_width, cfg.num_candidates, 0),
                "lookahead": (cfg.beam_width, cfg.num_candidates, cfg.lookahead_depth),
            }[cfg.strategy]
            finals = await self._beam(root, width, m, depth, rng, scored=cfg.strategy != "naive")
        finals.sort(key=lambda n: (-n.ret, -n.value, n.tiebreak))
        trajectories = [
            Trajectory(n.context, n.ret, n.env.success, n.end_reason or "max_turns", n.node_id)
            for n in finals[: cfg.return_top]
        ]
        self.cost.tokens_kept = trajectories[0].num_tokens
        self._mark_chosen(trajectories)
        return SearchResult(trajectories, self.cost, self.tree)

    # --- one beam search (every per-turn strategy) ------------------------------------------------
    async def _beam(
        self, root: _Node, width: int, m: int, depth: int, rng: np.random.Generator, scored: bool
    ) -> list[_Node]:
        beams = [root]
        while any(not b.done for b in beams):
            for b in beams:
                if not b.done and not await self._budget_left(b.context):
                    b.end_reason = "budget"
            live = [b for b in beams if not b.done]
            if not live:
                break
            batches = await self._waiting(asyncio.gather(*(self._propose(b.context, m) for b in live)))
            pending = [(b, c, self._parse(b, c)) for b, cands in zip(live, batches, strict=True) for c in cands]
            if scored:
                evals = await self._waiting(asyncio.gather(*(self._score(b, c, p, depth) for b, c, p in pending)))
            else:
                evals = [(None, 0.0, False)] * len(pending)
            # Rank new candidates together with finished beams; commit only the B survivors.
            entries: list[tuple[float, float, _Node | int]] = [(f.value, f.tiebreak, f) for f in beams if f.done]
            ids = []
            for i, ((b, c, _), (score, reward, done)) in enumerate(zip(pending, evals, strict=True)):
                value = b.ret + (score or 0.0)
                entries.append((value, float(rng.random()), i))
                ids.append(self._record(b.node_id, len(b.context.turns) + 1, c.text, score, value, reward, done))
            entries.sort(key=lambda e: (-e[0], e[1]))
            beams = []
            for value, tiebreak, item in entries[:width]:
                if isinstance(item, int):
                    b, c, p = pending[item]
                    item = self._commit(b, c, p, evals[item][0], value, tiebreak, node_id=ids[item])
                beams.append(item)
                if self.tree is not None:
                    self.tree[item.node_id].kept = True
        return beams

    async def _waiting(self, aw: Awaitable[T]) -> T:
        """Await ``aw`` and add the wall time while any such wait is open (minus env work done
        meanwhile) to ``cost.proposer_time_s``; overlapping waits are counted once."""
        if self._active == 0:
            self._since, self._env_since = time.perf_counter(), self.cost.env_time_s
        self._active += 1
        try:
            return await aw
        finally:
            self._active -= 1
            if self._active == 0:
                elapsed = time.perf_counter() - self._since - (self.cost.env_time_s - self._env_since)
                self.cost.proposer_time_s += elapsed

    async def _budget_left(self, context: Context) -> bool:
        return True if self.has_budget is None else await self.has_budget(context)

    async def _propose(self, context: Context, k: int, greedy: bool = False) -> list[Candidate]:
        cands = list(await self.proposer(context, k, greedy=greedy))
        if len(cands) != k:
            raise RuntimeError(f"proposer returned {len(cands)} candidates, expected {k}")
        self.cost.proposal_calls += 1
        self.cost.proposals += k
        self.cost.tokens_generated += sum(len(c.token_ids) for c in cands)
        return cands

    def _parse(self, node: _Node, cand: Candidate) -> ParsedTurn:
        parsed = parse_turn(cand.text, node.env.match_action, self.episode.parse)
        left = self.episode.max_actions - node.actions_used
        if len(parsed.actions) > left:
            cut = len(parsed.actions) - left
            parsed = dataclasses.replace(parsed, actions=parsed.actions[:left], dropped=parsed.dropped + cut)
        return parsed

    async def _score(self, node: _Node, cand: Candidate, parsed: ParsedTurn, depth: int) -> tuple[float, float, bool]:
        """Mean scorer value over K forks (concurrently); also the first fork's reward and done flag."""
        samples = await asyncio.gather(*(self._sample(node, cand, parsed, depth) for _ in range(self.config.score_samples)))
        return float(np.mean([s[0] for s in samples])), samples[0][1], samples[0][2]

    async def _sample(self, node: _Node, cand: Candidate, parsed: ParsedTurn, depth: int) -> tuple[float, float, bool]:
        """Play ``cand`` on one fork, then up to ``depth`` policy turns, and apply the scorer."""
        sim = self._commit(node, cand, parsed, None, fork_rng=self.config.score_rng)
        rewards = [sim.ret - node.ret]
        for _ in range(depth):
            if sim.done or not await self._budget_left(sim.context):
                break
            (nxt,) = await self._propose(sim.context, 1, greedy=self.config.lookahead_greedy)
            before = sim.ret
            sim = self._commit(sim, nxt, self._parse(sim, nxt), None, fork_rng=None)
            rewards.append(sim.ret - before)
        with EnvTimer(self.cost):
            score = self.scorer(Evaluation(sim.env, parsed, tuple(rewards), sim.done))
        return float(score), rewards[0], sim.done

    def _commit(
        self, node: _Node, cand: Candidate, parsed: ParsedTurn, score: float | None,
        value: float = 0.0, tiebreak: float = 0.0, fork_rng: str | None = "copy", node_id: int = -1,
    ) -> _Node:  # fmt: skip
        """Play ``cand`` on a fork of ``node.env`` (``fork_rng=None``: in place) -> child node."""
        with EnvTimer(self.cost):
            env = node.env if fork_rng is None else self._fork(node.env, fork_rng)
            outcome = step_turn(env, parsed)
        self.cost.env_steps += len(outcome.executed)
        used, turn = node.actions_used + len(outcome.executed), len(node.context.turns) + 1
        end = ("terminated" if outcome.terminated else "truncated" if outcome.truncated
               else "max_actions" if used >= self.episode.max_actions
               else "max_turns" if turn >= self.episode.max_turns else None)  # fmt: skip
        feedback = None
        if end is None:
            feedback = turn_message(turn + 1, outcome.observation, self.episode.max_actions - used,
                                    last_reward=outcome.reward, last_invalid=not outcome.executed,
                                    parse=self.episode.parse, prompt=self.episode.prompt,
                                    available=listed_actions(env))  # fmt: skip
        record = TurnRecord(cand, parsed, outcome.executed, outcome.reward, outcome.terminated, outcome.truncated,
                            outcome.observation, feedback, score)  # fmt: skip
        return _Node(env, node.context.extend(record), node.ret + outcome.reward, used, end, value, tiebreak, node_id)

    def _fork(self, env: TextEnv, rng: str) -> TextEnv:
        self.cost.forks += 1
        return env.fork(rng=rng)  # type: ignore[arg-type]

    # --- search-tree bookkeeping (ids always; nodes only when record_tree) --------------------------
    def _record(self, parent: int | None, turn: int, text: str, score: float | None, value: float,
                reward: float, done: bool) -> int:  # fmt: skip
        node_id, self._ids = self._ids, self._ids + 1
        if self.tree is not None:
            self.tree.append(TreeNode(node_id, parent, turn, text, score, value, reward, done))
        return node_id

    def _mark_chosen(self, trajectories: list[Trajectory]) -> None:
        if self.tree is None:
            return
        for traj in trajectories:
            nid: int | None = traj.node_id
            while nid is not None and nid >= 0:
                self.tree[nid].chosen = True
                nid = self.tree[nid].parent
