"""The TSR search driver: plays one episode, choosing each turn among proposed candidates.

All per-turn strategies are one beam search with different sizes (see ``config.py``):
``naive`` = B1 x M1 without scoring, ``best_of_n`` = B1 x M, ``beam`` = B x M, ``lookahead`` =
B x M where each candidate's score includes D policy turns simulated on a fork.
``trajectory_best_of_n`` runs N naive episodes concurrently and keeps the best (by return;
with ``invalid_last``, among the episodes with the fewest turns that executed no action).

Each turn, for every live beam: one proposer call for M candidates (beams concurrently), each
candidate scored on fork(s) of the beam's env, then the top B children by ``value = return so
far + score`` (candidates that executed no action last, ties broken by a seeded random key) are
committed: the winner's actions are stepped on a copy of the beam's own env, so the committed
path is a genuine episode whatever the scoring forks saw. A committed child is then re-rated on
its own env, so a finished beam competes with what really happened to it (a fall into a hole),
not with what its scoring fork saw. Only committed turns enter the returned trajectories. With
``distinct_beams`` (group-coupled searches) a survivor repeating an earlier one's executed actions
is set aside while distinct ones remain (``nodes.survivors``).

Scoring forks never share a random stream: each fork takes its own spawn index (``TextEnv.fork``)
and the root is salted with the episode's ``stream`` (``TextEnv.seed_forks``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Sequence

import numpy as np

from tsr_verl.envs.core import TextEnv
from tsr_verl.envs.parsing import ParsedTurn, parse_turn, step_turn
from tsr_verl.envs.prompts import initial_messages
from tsr_verl.search.clock import EnvTimer, ProposerClock
from tsr_verl.search.config import EpisodeConfig, SearchConfig
from tsr_verl.search.nodes import Node, child, survivors
from tsr_verl.search.scorers import Evaluation, Scorer, get_scorer
from tsr_verl.search.selection import selection
from tsr_verl.search.tree import TreeRecorder
from tsr_verl.search.types import (
    Candidate,
    Context,
    Message,
    Proposer,
    SearchCost,
    SearchResult,
    Selection,
    Trajectory,
)


class SearchDriver:
    """Runs ``SearchConfig.strategy`` for one episode against an injected ``Proposer``."""

    def __init__(
        self,
        proposer: Proposer,
        config: SearchConfig | None = None,
        episode: EpisodeConfig | None = None,
        scorer: Scorer | None = None,
        has_budget: Callable[[Context], Awaitable[bool]] | None = None,
    ) -> None:
        self.proposer = proposer
        self.config = config or SearchConfig()
        self.episode = episode or EpisodeConfig()
        self.scorer = scorer or get_scorer(self.config.resolved_scorer)
        self.has_budget = has_budget
        """Optional async check run before each proposal; ``False`` ends that path with
        ``end_reason="budget"`` (the veRL loop uses it for ``response_length``)."""

    async def run(
        self,
        env: TextEnv,
        messages: Sequence[Message] | None = None,
        *,
        seed: int = 0,
        key: str = "",
        stream: int = 0,
        fan_out: int = 1,
    ) -> SearchResult:
        """Search from ``env``'s current state (already ``reset``). ``messages`` is the initial
        conversation (default: built from the env); ``seed`` (the episode seed) and ``stream``
        seed tie-breaking and the scoring forks' random streams: episodes that share an env seed
        (GRPO group members) must pass different ``stream`` values, or they score on the same
        draws. ``key`` is an opaque episode id passed to the proposer through the ``Context``.
        ``fan_out`` > 1 makes the first turn propose from that many copies of the start (so a
        width-n group search chooses n of n·M first answers, not keeps all M)."""
        cfg, self.cost = self.config, SearchCost(peeked=self.config.score_rng == "copy")
        if stream < 0 or fan_out < 1:
            raise ValueError(f"SearchDriver.run: need stream >= 0 and fan_out >= 1, got {stream}, {fan_out}")
        self._tree, self._clock = TreeRecorder(cfg.record_tree), ProposerClock(self.cost)
        observation = env.render()
        if messages is None:
            messages = initial_messages(
                env, observation, self.episode.max_actions, self.episode.parse, self.episode.prompt
            )
        env.seed_forks(cfg.seed % 2**32, stream % 2**32)
        root = Node(env, Context(tuple(messages), (), key), node_id=self._tree.add(None, 0, "", None, 0.0, 0.0, False))
        rng = np.random.default_rng([cfg.seed, seed, stream])
        if cfg.strategy == "trajectory_best_of_n":
            starts = [dataclasses.replace(root, env=self._fork(env, "copy")) for _ in range(cfg.num_candidates)]
            runs = [
                self._beam([s], 1, 1, 0, r, scored=False) for s, r in zip(starts, rng.spawn(len(starts)), strict=True)
            ]
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
            finals = await self._beam([root] * fan_out, width, m, depth, rng, scored=cfg.strategy != "naive")
        if cfg.strategy == "trajectory_best_of_n" and cfg.invalid_last:  # fewest no-action turns first
            finals.sort(key=lambda n: (sum(not t.executed for t in n.context.turns), -n.ret, n.tiebreak))
        else:
            finals.sort(key=lambda n: (-n.ret, -n.value, n.tiebreak))
        trajectories = [
            Trajectory(n.context, n.ret, n.env.success, n.end_reason or "max_turns", n.node_id)
            for n in finals[: cfg.return_top]
        ]
        self.cost.tokens_kept = trajectories[0].num_tokens
        self._tree.mark_chosen(trajectories)
        return SearchResult(trajectories, self.cost, self._tree.nodes, initial_observation=observation)

    # --- one beam search (every per-turn strategy) ------------------------------------------------
    async def _beam(
        self, beams: list[Node], width: int, m: int, depth: int, rng: np.random.Generator, scored: bool
    ) -> list[Node]:
        while any(not b.done for b in beams):
            for b in beams:
                if not b.done and not await self._budget_left(b.context):
                    b.end_reason = "budget"
            live = [b for b in beams if not b.done]
            if not live:
                break
            batches = await self._clock.wait(asyncio.gather(*(self._propose(b.context, m) for b in live)))
            pending = [(b, c, self._parse(b, c)) for b, cands in zip(live, batches, strict=True) for c in cands]
            if scored:
                evals = await self._clock.wait(asyncio.gather(*(self._score(b, c, p, depth) for b, c, p in pending)))
            else:
                evals = [(None, 0.0, False)] * len(pending)
            # Rank new candidates together with finished beams; commit only the B survivors. The
            # first key puts candidates that executed no action last (``invalid_last``).
            entries: list[tuple[bool, float, float, Node | int]] = [
                (True, f.value, f.tiebreak, f) for f in beams if f.done
            ]
            ids = []
            for i, ((b, c, p), (score, reward, done)) in enumerate(zip(pending, evals, strict=True)):
                value = b.ret + (score or 0.0)
                entries.append((bool(p.actions) or not self.config.invalid_last, value, float(rng.random()), i))
                ids.append(
                    self._tree.add(
                        b.node_id, len(b.context.turns) + 1, c.text, score, value, reward, done, bool(p.actions)
                    )
                )
            entries.sort(key=lambda e: (not e[0], -e[1], e[2]))
            beams = self._survivors(entries, pending, evals, ids, width, scored)
            for node in beams:
                self._tree.mark_kept(node.node_id)
        return beams

    def _survivors(
        self, entries: list, pending: list, evals: list, ids: list[int], width: int, scored: bool
    ) -> list[Node]:
        """The first ``width`` of this turn's ranked ``entries``, committed (``distinct_beams``:
        distinct executed actions first, see ``nodes.survivors``)."""

        def commit(entry: tuple) -> Node:
            _, value, tiebreak, item = entry
            if isinstance(item, Node):  # a finished beam
                return item
            node = self._keep(pending, evals, item, value, tiebreak, ids[item])
            if scored:
                self._rerate(node, pending[item][0])
            return node

        return survivors(entries, width, commit, distinct=self.config.distinct_beams)

    def _keep(self, pending: list, evals: list, i: int, value: float, tiebreak: float, node_id: int) -> Node:
        """Commit candidate ``i`` of this turn's ranking: play it on a copy of its beam's env and
        record how it compared with its siblings (the beam's other candidates)."""
        b, c, p = pending[i]
        siblings = [(pc, pp, evals[j][0]) for j, (pb, pc, pp) in enumerate(pending) if pb is b]
        node = self._commit(b, c, p, evals[i][0], selection=selection(c, p, evals[i][0], siblings))
        node.value, node.tiebreak, node.node_id = value, tiebreak, node_id
        return node

    def _rerate(self, node: Node, parent: Node) -> None:
        """Rank a committed child from now on by what really happened on its own env (a slip into
        a hole), not by what its scoring fork saw: a finished beam keeps this value."""
        parsed = node.context.turns[-1].parsed
        node.value = parent.ret + self._rate(Evaluation(node.env, parsed, (node.ret - parent.ret,), node.done))

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

    def _parse(self, node: Node, cand: Candidate) -> ParsedTurn:
        parsed = parse_turn(cand.text, node.env.match_action, self.episode.parse)
        left = self.episode.max_actions - node.actions_used
        if len(parsed.actions) > left:
            cut = len(parsed.actions) - left
            parsed = dataclasses.replace(parsed, actions=parsed.actions[:left], dropped=parsed.dropped + cut)
        return parsed

    async def _score(self, node: Node, cand: Candidate, parsed: ParsedTurn, depth: int) -> tuple[float, float, bool]:
        """Mean scorer value over K forks (concurrently); also the first fork's reward and done flag."""
        samples = await asyncio.gather(
            *(self._sample(node, cand, parsed, depth) for _ in range(self.config.score_samples))
        )
        return float(np.mean([s[0] for s in samples])), samples[0][1], samples[0][2]

    async def _sample(self, node: Node, cand: Candidate, parsed: ParsedTurn, depth: int) -> tuple[float, float, bool]:
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
        score = self._rate(Evaluation(sim.env, parsed, tuple(rewards), sim.done, before=node.env))
        return score, rewards[0], sim.done

    def _rate(self, evaluation: Evaluation) -> float:
        with EnvTimer(self.cost):
            return float(self.scorer(evaluation))

    def _commit(
        self,
        node: Node,
        cand: Candidate,
        parsed: ParsedTurn,
        score: float | None,
        fork_rng: str | None = "copy",
        selection: Selection | None = None,
    ) -> Node:
        """Play ``cand`` on a fork of ``node.env`` (``fork_rng=None``: in place) -> child node."""
        with EnvTimer(self.cost):
            env = node.env if fork_rng is None else self._fork(node.env, fork_rng)
            outcome = step_turn(env, parsed)
        self.cost.env_steps += len(outcome.executed)
        return child(node, env, cand, parsed, outcome, self.episode, score, selection)

    def _fork(self, env: TextEnv, rng: str) -> TextEnv:
        self.cost.forks += 1
        return env.fork(rng=rng)  # type: ignore[arg-type]
