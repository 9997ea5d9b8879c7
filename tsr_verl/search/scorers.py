"""Scorers: how a candidate turn is rated after it was played on a fork of the env.

A scorer is a plain function ``Evaluation -> float`` (higher is better). The driver builds the
``Evaluation`` by forking the env (``SearchConfig.score_rng``), playing the candidate's actions
and, for lookahead, D further policy turns; with ``score_samples=K`` it averages K such
evaluations. Select a scorer by name (``env_reward``) or by import path (``my_pkg.mod:fn``);
``register_scorer`` adds names.

Built-ins:
* ``env_reward``: the candidate turn's reward on the fork (format penalty included). The paper's
  scorer for deterministic Sokoban.
* ``return_to_go``: that reward plus the rewards of the simulated turns (lookahead's default).
* ``success``: 1 if the fork ends in a solved state, else 0.
* ``sokoban``: return-to-go, minus a small box-to-target distance term, and a very low score
  when a box is stuck in a non-target corner (the puzzle can no longer be solved).
* ``frozenlake_risk``: the paper's "risk-aware heuristic" for slippery FrozenLake: the exact
  expectation, over every slip outcome of the candidate's moves, of (goal reward, or ``DEAD`` in
  a hole, or minus distance to the goal and minus the next-step hole risk of the safest action).
* ``env_progress``: return-to-go plus ``env.progress()`` for envs that expose a dense progress
  signal. WebShop's ``progress()`` is the purchase reward of the best product the fork is
  looking at, computed from the goal's *hidden* attributes: the env acting as a reward model on a
  fork, i.e. an oracle scorer. ``env_reward`` is the non-oracle choice (0 until purchase there).

Every scorer's value is ranked after one rule the driver applies first (``SearchConfig.invalid_last``):
a candidate that executed no action ranks below every candidate that executed one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from tsr_verl.envs.core import TextEnv
from tsr_verl.envs.parsing import ParsedTurn

DEAD = -1e6
"""Score of a state from which the goal can no longer be reached (a deadlock, a hole)."""


@dataclass(frozen=True)
class Evaluation:
    """What a scorer sees about one candidate turn played on a fork."""

    env: TextEnv
    """The fork after the candidate's turn (and any simulated turns); scorers may read, not step."""
    parsed: ParsedTurn
    """The candidate's parsed answer."""
    rewards: tuple[float, ...]
    """The candidate turn's reward first, then each simulated turn's reward."""
    done: bool
    """The episode ended on the fork."""
    before: TextEnv | None = None
    """The state the candidate's turn was played from (read only), for scorers that take an
    exact expectation over the turn's random outcomes; ``None`` when the driver re-rates a
    committed turn, whose outcome is real and must be rated as it happened."""

    @property
    def turn_reward(self) -> float:
        return self.rewards[0]

    @property
    def return_to_go(self) -> float:
        return float(sum(self.rewards))


Scorer = Callable[[Evaluation], float]
_SCORERS: dict[str, Scorer] = {}


def register_scorer(name: str, fn: Scorer | None = None) -> Callable[[Scorer], Scorer] | Scorer:
    """Register ``fn`` as ``name``; usable as ``@register_scorer("name")``."""

    def deco(f: Scorer) -> Scorer:
        _SCORERS[name] = f
        return f

    return deco(fn) if fn is not None else deco


def get_scorer(name: str) -> Scorer:
    """Resolve a registered name or a ``module:function`` path; the error lists valid names."""
    if name in _SCORERS:
        return _SCORERS[name]
    module, sep, attr = name.partition(":")
    if not sep:
        raise ValueError(f"unknown scorer {name!r}; registered: {sorted(_SCORERS)} (or pass 'module:function')")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load scorer {name!r}: {exc}") from exc
    if not callable(fn):
        raise ValueError(f"scorer {name!r} is not callable")
    return fn


@register_scorer("env_reward")
def env_reward(ev: Evaluation) -> float:
    return ev.turn_reward


@register_scorer("return_to_go")
def return_to_go(ev: Evaluation) -> float:
    return ev.return_to_go


@register_scorer("success")
def success(ev: Evaluation) -> float:
    return 1.0 if ev.env.success else 0.0


SOKOBAN_DISTANCE_WEIGHT = 0.05
"""Per unit of summed Manhattan distance from each box to its nearest target."""


@register_scorer("sokoban")
def sokoban(ev: Evaluation) -> float:
    from tsr_verl.envs.sokoban.solver import is_corner_deadlock

    env = ev.env
    boxes, targets, walls = env.boxes, env.targets, env.walls  # type: ignore[attr-defined]
    if any(is_corner_deadlock(walls, targets, b) for b in boxes if b not in targets):
        return DEAD + ev.return_to_go
    distance = sum(min(abs(br - tr) + abs(bc - tc) for tr, tc in targets) for br, bc in boxes)
    return ev.return_to_go - SOKOBAN_DISTANCE_WEIGHT * distance


FROZENLAKE_DISTANCE_WEIGHT = 0.05
"""Per step of shortest-path distance to the goal."""
FROZENLAKE_RISK_WEIGHT = 0.5
"""Times the smallest next-step probability of falling into a hole."""
FROZENLAKE_SIM_HOLE_PENALTY = 1.0
"""Subtracted when a lookahead simulation (policy turns after the candidate) falls into a hole."""


@register_scorer("frozenlake_risk")
def frozenlake_risk(ev: Evaluation) -> float:
    """Exact expected value of the candidate's own moves over every slip outcome.

    The map, holes, goal and slip probability are all shown to the agent, so the expectation is
    honest and costs no sampling: with ``ev.before`` (the state the turn was played from) the
    candidate's actions are expanded with ``FrozenLakeEnv.outcomes`` and each outcome is rated
    (goal: 1; hole or cut off from the goal: ``DEAD``; else minus distance and next-step risk
    terms). The result does not depend on ``score_samples``: a move with a 10% chance of a hole
    scores about ``0.1 * DEAD`` and loses to any safe move. Lookahead turns simulated on the fork
    add their sampled rewards, minus ``FROZENLAKE_SIM_HOLE_PENALTY`` if the simulation fell.
    Without ``ev.before`` (the driver re-rating a committed turn) the realized state is rated.
    """
    before = ev.before
    if before is None:  # a realized outcome: rate the state the env is actually in
        return ev.return_to_go + _frozenlake_state_value(ev.env, ev.env.player, ev.env.done)  # type: ignore[attr-defined]
    expected = sum(
        p * ((1.0 if cell == before.goal else 0.0) + _frozenlake_state_value(before, cell, done))  # type: ignore[attr-defined]
        for p, cell, done in before.outcomes(ev.parsed.actions)  # type: ignore[attr-defined]
    )
    value = ev.parsed.penalty + expected + sum(ev.rewards[1:])
    env = ev.env
    if len(ev.rewards) > 1 and env.done and env.player in env.holes:  # type: ignore[attr-defined]
        value -= FROZENLAKE_SIM_HOLE_PENALTY
    return value


def _frozenlake_state_value(env: TextEnv, cell: tuple[int, int], done: bool) -> float:
    """Heuristic value of standing on ``cell`` (rewards excluded): 0 at the goal, ``DEAD`` in a hole
    or where the goal is unreachable, else minus the distance and next-step risk terms."""
    if cell == env.goal:  # type: ignore[attr-defined]
        return 0.0
    distance = env.shortest_path_length(cell)  # type: ignore[attr-defined]
    if cell in env.holes or distance is None:  # type: ignore[attr-defined]
        return DEAD
    if done:  # truncated: the episode is over without the goal
        return 0.0
    return -FROZENLAKE_DISTANCE_WEIGHT * distance - FROZENLAKE_RISK_WEIGHT * env.hole_risk(cell)  # type: ignore[attr-defined]


@register_scorer("env_progress")
def env_progress(ev: Evaluation) -> float:
    progress = getattr(ev.env, "progress", None)
    if progress is None:
        raise ValueError(f"scorer 'env_progress' needs an env with a progress() method; {ev.env.name!r} has none")
    return ev.return_to_go + float(progress())
