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
* ``frozenlake_risk``: the paper's "risk-aware heuristic" for slippery FrozenLake: return-to-go,
  minus distance to the goal, minus the chance of sliding into a hole on the next step even
  with the safest action; falling into a hole scores lowest.
* ``env_progress``: return-to-go plus ``env.progress()`` for envs that expose a dense progress
  signal (WebShop's hook).
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
    from tsr_verl.envs.sokoban_solver import is_corner_deadlock

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


@register_scorer("frozenlake_risk")
def frozenlake_risk(ev: Evaluation) -> float:
    env = ev.env
    if env.success:
        return ev.return_to_go
    if env.done and env.player in env.holes:  # type: ignore[attr-defined]
        return DEAD + ev.return_to_go
    distance = env.shortest_path_length()  # type: ignore[attr-defined]
    if distance is None:
        return DEAD + ev.return_to_go
    holes = env.holes  # type: ignore[attr-defined]
    risk = min(sum(p for p, cell in env.transition_probs(a) if cell in holes) for a in env.actions)  # type: ignore[attr-defined]
    return ev.return_to_go - FROZENLAKE_DISTANCE_WEIGHT * distance - FROZENLAKE_RISK_WEIGHT * risk


@register_scorer("env_progress")
def env_progress(ev: Evaluation) -> float:
    progress = getattr(ev.env, "progress", None)
    if progress is None:
        raise ValueError(f"scorer 'env_progress' needs an env with a progress() method; {ev.env.name!r} has none")
    return ev.return_to_go + float(progress())
