"""Data types shared by the search driver, strategies and scorers.

The driver talks to the policy only through a ``Proposer``: an async callable that, given the
conversation so far, returns ``k`` candidate assistant turns in one concurrent batch. The veRL
agent loop supplies one backed by the vLLM server; tests supply scripted ones. Candidates carry
the proposer's own token ids and log-probs, which the driver passes through untouched: the kept
path is trained with exactly the tokens and log-probs the policy produced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tsr_verl.envs.parsing import ParsedTurn
from tsr_verl.envs.prompts import Message as Message  # re-exported: the message type of ``Context``
from tsr_verl.search.metric_names import METRIC_PREFIX


@dataclass(frozen=True)
class Candidate:
    """One proposed assistant turn."""

    text: str
    """Decoded text; the env parser reads it."""
    token_ids: tuple[int, ...] = ()
    """The generated token ids (what training uses)."""
    logprobs: tuple[float, ...] = ()
    """The proposer's log-prob of each generated token."""
    extra: Any = None
    """Anything else the proposer wants back (e.g. stop reason); never inspected."""


@dataclass(frozen=True)
class Selection:
    """How one committed turn was picked among its siblings (the M candidates its beam proposed).

    Kept trajectories are a *selected* sample of the policy; these numbers measure how strongly
    (see docs/strategies.md, "Selection bias"). NaN where a quantity is undefined (no log-probs, unscored)."""

    kept_logprob: float
    """Mean token log-prob of the kept candidate."""
    proposed_logprob: float
    """Mean over the siblings of each sibling's mean token log-prob."""
    score_gap: float
    """Kept candidate's score minus the mean sibling score (siblings scored at or below
    ``scorers.DEAD / 2``, i.e. dead ends, are left out of the mean so one of them cannot swamp it)."""
    changed: float
    """Probability that a uniformly random pick among the siblings would have executed different
    actions than the kept one (0 for ``naive``: search changed nothing)."""


@dataclass(frozen=True)
class TurnRecord:
    """One committed turn of a path: the chosen candidate and what the env did with it."""

    candidate: Candidate
    parsed: ParsedTurn
    executed: tuple[str, ...]
    """Actions actually stepped (budget and episode end can cut the parsed list)."""
    reward: float
    """Env reward of the turn including the format penalty."""
    terminated: bool
    truncated: bool
    observation: str
    """Env observation after the turn."""
    feedback: Message | None
    """The user message opening the next turn; ``None`` when the episode ended here."""
    score: float | None = None
    """The search score that selected this candidate (``None`` when nothing was scored)."""
    selection: Selection | None = None
    """How the candidate compared with its siblings (``None`` on simulation forks)."""


@dataclass(frozen=True)
class Context:
    """The conversation of one path: initial messages plus committed turns.

    A token-level proposer rebuilds its prompt as ``tokenize(messages)`` followed, per turn, by
    ``turn.candidate.token_ids`` and the tokens of ``turn.feedback``."""

    messages: tuple[Message, ...]
    turns: tuple[TurnRecord, ...] = ()
    key: str = ""
    """Stable id of the episode (e.g. for sticky routing to one inference server)."""

    def chat(self) -> list[Message]:
        """The full message list, ending with the user message the next turn answers."""
        out = list(self.messages)
        for turn in self.turns:
            out.append({"role": "assistant", "content": turn.candidate.text})
            if turn.feedback is not None:
                out.append(turn.feedback)
        return out

    def extend(self, turn: TurnRecord) -> Context:
        return Context(self.messages, self.turns + (turn,), self.key)


class Proposer(Protocol):
    """``await propose(context, k, greedy=False)`` -> ``k`` candidates for the next turn.

    Must return exactly ``k`` candidates, generated concurrently (one batch); ``greedy=True``
    asks for deterministic decoding (used by lookahead simulation when configured)."""

    async def __call__(self, context: Context, k: int, *, greedy: bool = False) -> Sequence[Candidate]: ...


@dataclass
class SearchCost:
    """What a search spent; returned with every result and logged as training metrics."""

    proposal_calls: int = 0
    """Calls to the proposer (each a concurrent batch)."""
    proposals: int = 0
    """Candidates proposed, including lookahead simulation turns."""
    tokens_generated: int = 0
    """Tokens of all proposed candidates."""
    tokens_kept: int = 0
    """Tokens of the returned best trajectory (the rest was search overhead)."""
    env_steps: int = 0
    """Env ``step`` calls on forks and on the committed paths."""
    forks: int = 0
    """Env ``fork`` calls."""
    proposer_time_s: float = 0.0
    """Wall time spent awaiting the proposer (minus env work done meanwhile)."""
    env_time_s: float = 0.0
    """Time spent in env forks/steps and scorers."""
    peeked: bool = False
    """Whether scoring used ``fork(rng="copy")``, i.e. saw the real episode's random future."""

    def metrics(self, prefix: str = METRIC_PREFIX) -> dict[str, float]:
        """Every field as ``<prefix><field>`` (``metric_names``: ``tsr/`` per step, ``tsr_`` per episode)."""
        return {prefix + k: float(v) for k, v in asdict(self).items()}


@dataclass
class TreeNode:
    """One node of the recorded search tree (for dumps and visualisation; not for training)."""

    id: int
    parent: int | None
    turn: int
    text: str
    score: float | None
    value: float
    """Ranking key used by beam selection (path return before the turn + score)."""
    reward: float
    done: bool
    valid: bool = True
    """The candidate named at least one valid action (``invalid_last`` ranks it accordingly)."""
    kept: bool = False
    """Survived the beam selection of its turn."""
    chosen: bool = False
    """Lies on a returned trajectory."""


@dataclass
class Trajectory:
    """A committed path from the initial prompt to the end of the episode."""

    context: Context
    total_return: float
    """Sum of the turn rewards on the real (committed) env."""
    success: bool
    end_reason: str
    """``terminated``, ``truncated``, ``max_turns``, ``max_actions`` or ``budget`` (token budget)."""
    node_id: int | None = None

    @property
    def turns(self) -> tuple[TurnRecord, ...]:
        return self.context.turns

    @property
    def num_tokens(self) -> int:
        return sum(len(t.candidate.token_ids) for t in self.turns)


@dataclass
class SearchResult:
    """Trajectories best first (``trajectories[0]`` is what training uses by default)."""

    trajectories: list[Trajectory]
    cost: SearchCost
    tree: list[TreeNode] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    initial_observation: str | None = None
    """The env's observation when the search started (``env.render()``), kept as data so that
    episode records and the viewer never have to parse it back out of the prompt text."""

    @property
    def best(self) -> Trajectory:
        return self.trajectories[0]


def search_metrics(result: SearchResult | None, prefix: str = METRIC_PREFIX) -> dict[str, float]:
    """Per-episode metrics of a search: its cost, plus selection statistics of the best
    trajectory's turns. The keys never depend on the result (``None`` = a failed episode gives
    zeros/NaN), because veRL stacks per-episode metrics column-wise. ``prefix``: ``tsr/`` (metric
    names) or ``metric_names.EPISODE_PREFIX`` (``reward_extra_info`` keys).

    * ``kept_invalid``: share of kept turns that executed no action;
    * ``kept_logprob`` / ``proposed_logprob``: mean token log-prob of kept vs all sibling candidates;
    * ``score_gap``: mean (kept score - mean sibling score);
    * ``selection_changed``: mean probability that a random pick would have played otherwise.
    """
    cost = result.cost if result is not None else SearchCost()
    turns = result.best.turns if result is not None else ()
    picks = [t.selection for t in turns if t.selection is not None]

    def mean(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return sum(finite) / len(finite) if finite else math.nan

    out = cost.metrics(prefix)
    out.update(
        {
            prefix + "kept_invalid": sum(1 for t in turns if not t.executed) / len(turns) if turns else 0.0,
            prefix + "kept_logprob": mean([p.kept_logprob for p in picks]),
            prefix + "proposed_logprob": mean([p.proposed_logprob for p in picks]),
            prefix + "score_gap": mean([p.score_gap for p in picks]),
            prefix + "selection_changed": mean([p.changed for p in picks]) if picks else 0.0,
        }
    )
    return out
