"""Configuration of a TSR search (``SearchConfig``) and of the episode it plays (``EpisodeConfig``).

These mirror the Hydra keys ``actor_rollout_ref.rollout.custom.tsr.*`` one to one; ``from_dict``
rejects unknown keys with an error that lists the valid ones.

Proposals per turn (M = ``num_candidates``, B = ``beam_width``, D = ``lookahead_depth``,
K = ``score_samples``):

==========================  ==========================================================
strategy                    proposer calls x candidates per turn
==========================  ==========================================================
``naive``                   1 x 1
``best_of_n``               1 x M
``beam``                    B x M
``lookahead``               B x M, plus B*M*K*D one-candidate simulation calls
``trajectory_best_of_n``    M whole episodes, each 1 x 1 per turn
==========================  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from tsr_verl.envs.parsing import ParseConfig
from tsr_verl.envs.prompts import PromptConfig

STRATEGIES = ("naive", "best_of_n", "beam", "lookahead", "trajectory_best_of_n")


@dataclass(frozen=True)
class SearchConfig:
    """How rollouts are searched. Defaults follow the paper (M=4, B=2, D=2)."""

    strategy: str = "naive"
    """One of ``naive``, ``best_of_n``, ``beam``, ``lookahead``, ``trajectory_best_of_n``."""
    num_candidates: int = 4
    """M: candidates per beam per turn (N whole episodes for ``trajectory_best_of_n``)."""
    beam_width: int = 2
    """B: partial trajectories kept per turn (``beam``, ``lookahead``; 1 for ``best_of_n``)."""
    lookahead_depth: int = 2
    """D: turns simulated with the policy on a fork after each candidate (``lookahead``)."""
    lookahead_greedy: bool = True
    """Simulate with greedy decoding (``False``: sample with the rollout temperature)."""
    scorer: str | None = None
    """Scorer name or ``module:function``; ``None`` = ``env_reward`` (``return_to_go`` for lookahead)."""
    score_samples: int = 1
    """K: score on K forks and average (useful for stochastic envs)."""
    score_rng: str = "independent"
    """Fork RNG for scoring: ``independent`` (honest) or ``copy`` (peeks at the real random future)."""
    invalid_last: bool = True
    """Rank a candidate that executed no action (no valid action parsed) below every candidate
    that executed one, whatever the scorer says: the authors' rule (TSR_RAGEN scores it -1e6).
    ``False`` ranks it by its score, where e.g. a -0.1 format penalty can tie a -0.1 Sokoban move.
    ``trajectory_best_of_n`` applies the same rule to whole episodes: the best return among the
    episodes with the fewest such turns (``False``: best return, the authors' best-of-N)."""
    return_top: int = 1
    """L: return the best L trajectories (distinct beams / episodes) instead of only the best."""
    record_tree: bool = False
    """Keep the whole search tree in the result (for dumps and visualisation)."""
    seed: int = 0
    """Seed of the tie-breaking RNG (combined with the episode seed)."""

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"tsr.strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        for name in ("num_candidates", "beam_width", "score_samples", "return_top"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"tsr.{name} must be >= 1, got {getattr(self, name)}")
        if self.lookahead_depth < 0:
            raise ValueError(f"tsr.lookahead_depth must be >= 0, got {self.lookahead_depth}")
        if self.score_rng not in ("independent", "copy"):
            raise ValueError(f"tsr.score_rng must be 'independent' or 'copy', got {self.score_rng!r}")

    @property
    def resolved_scorer(self) -> str:
        if self.scorer:
            return self.scorer
        return "return_to_go" if self.strategy == "lookahead" else "env_reward"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SearchConfig:
        return cls(**_checked(cls, data or {}, "tsr"))


@dataclass(frozen=True)
class EpisodeConfig:
    """How one episode is played: turn and action budgets, parsing and prompt wording."""

    max_turns: int = 5
    """K: assistant turns per episode (RAGEN/TSR: 5)."""
    max_actions: int = 10
    """Env actions per episode (RAGEN's ``max_actions_per_traj``)."""
    parse: ParseConfig = field(default_factory=ParseConfig)
    """Answer format and format penalty."""
    prompt: PromptConfig = field(default_factory=PromptConfig)
    """Wording of the per-turn user messages."""

    def __post_init__(self) -> None:
        if self.max_turns < 1 or self.max_actions < 1:
            raise ValueError(f"max_turns and max_actions must be >= 1, got {self.max_turns}, {self.max_actions}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EpisodeConfig:
        data = _checked(cls, data or {}, "episode")
        if isinstance(data.get("parse"), dict):
            data["parse"] = ParseConfig(**_checked(ParseConfig, data["parse"], "episode.parse"))
        if isinstance(data.get("prompt"), dict):
            data["prompt"] = PromptConfig(**_checked(PromptConfig, data["prompt"], "episode.prompt"))
        return cls(**data)


def _checked(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    valid = [f.name for f in fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; valid keys: {valid}")
    return dict(data)
