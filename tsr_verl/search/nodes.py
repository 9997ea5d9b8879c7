"""Search nodes: a partial trajectory, and the child a played turn makes of it.

A ``Node`` owns its env (a fork of its parent's), its conversation (``Context``) and the
bookkeeping the beam ranking needs. ``child`` turns the outcome of stepping one candidate into
the next node: the turn record (with the user message opening the next turn, if any) and why the
episode ended, if it did. The driver decides *which* candidates become children.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from tsr_verl.envs.core import TextEnv
from tsr_verl.envs.parsing import ParsedTurn, TurnOutcome
from tsr_verl.envs.prompts import listed_actions, turn_message
from tsr_verl.search.config import EpisodeConfig
from tsr_verl.search.types import Candidate, Context, Selection, TurnRecord

T = TypeVar("T")


@dataclass
class Node:
    """A partial trajectory: its own env, its conversation and its bookkeeping."""

    env: TextEnv
    context: Context
    ret: float = 0.0
    """Return so far (env rewards plus format penalties of the committed turns)."""
    actions_used: int = 0
    end_reason: str | None = None
    """Why the episode ended (``terminated``, ``truncated``, ``max_actions``, ``max_turns``,
    ``budget``); ``None`` while it goes on."""
    value: float = 0.0
    """The ranking key (return before the last turn + that turn's score)."""
    tiebreak: float = 0.0
    node_id: int = 0

    @property
    def done(self) -> bool:
        return self.end_reason is not None


def end_reason(outcome: TurnOutcome, used: int, turn: int, episode: EpisodeConfig) -> str | None:
    """Why the episode ends after ``turn`` (1-based) with ``used`` actions spent, or ``None``."""
    if outcome.terminated:
        return "terminated"
    if outcome.truncated:
        return "truncated"
    if used >= episode.max_actions:
        return "max_actions"
    return "max_turns" if turn >= episode.max_turns else None


def child(
    node: Node,
    env: TextEnv,
    cand: Candidate,
    parsed: ParsedTurn,
    outcome: TurnOutcome,
    episode: EpisodeConfig,
    score: float | None = None,
    selection: Selection | None = None,
) -> Node:
    """The node after ``cand`` was played on ``env`` (already stepped, giving ``outcome``)."""
    used, turn = node.actions_used + len(outcome.executed), len(node.context.turns) + 1
    end = end_reason(outcome, used, turn, episode)
    feedback = None
    if end is None:
        feedback = turn_message(
            turn + 1,
            outcome.observation,
            episode.max_actions - used,
            last_reward=outcome.reward,
            last_invalid=not outcome.executed,
            parse=episode.parse,
            prompt=episode.prompt,
            available=listed_actions(env),
        )
    record = TurnRecord(
        cand,
        parsed,
        outcome.executed,
        outcome.reward,
        outcome.terminated,
        outcome.truncated,
        outcome.observation,
        feedback,
        score,
        selection,
    )
    return Node(env, node.context.extend(record), node.ret + outcome.reward, used, end)


def action_history(context: Context) -> tuple[tuple[str, ...], ...]:
    """The actions each committed turn of ``context`` executed: what makes two paths (beams,
    group members) distinct (``SearchConfig.distinct_beams``, ``tsr_verl.search.group``)."""
    return tuple(turn.executed for turn in context.turns)


def distinct_first(ranked: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
    """``ranked`` with every repeat of an earlier item's key moved behind all first occurrences;
    both parts keep their order."""
    seen: set[Hashable] = set()
    first: list[T] = []
    repeats: list[T] = []
    for item in ranked:
        k = key(item)
        (repeats if k in seen else first).append(item)
        seen.add(k)
    return first + repeats


def survivors(
    entries: Sequence[tuple], width: int, commit: Callable[[tuple], Node], *, distinct: bool = False
) -> list[Node]:
    """Commit the first ``width`` of a turn's ranked ``entries`` (``(executed_an_action, value,
    tiebreak, item)``, best first). With ``distinct`` a survivor whose executed actions repeat an
    earlier survivor's is set aside and fills the width only when its class (executed an action or
    not) has too few distinct ones: a repeat never ranks above a worse class. Repeats are committed
    before they are recognised (an env step on a copy, no proposer call)."""
    if not distinct:
        return [commit(e) for e in entries[:width]]
    beams: list[Node] = []
    for valid in (True, False):
        seen = {action_history(b.context) for b in beams}
        repeats: list[Node] = []
        for entry in (e for e in entries if e[0] == valid):
            if len(beams) == width:
                break
            node = commit(entry)
            key = action_history(node.context)
            (repeats if key in seen else beams).append(node)
            seen.add(key)
        beams += repeats[: width - len(beams)]
    return beams
