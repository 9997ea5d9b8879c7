"""Configuration of a TSR search (``SearchConfig``) and of the episode it plays (``EpisodeConfig``).

These mirror the Hydra keys ``actor_rollout_ref.rollout.custom.tsr.*`` one to one; bounds sit next
to each field (``tsr_verl.fields.setting``), and ``from_dict`` rejects unknown keys with an error
that lists the valid ones.

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

from dataclasses import dataclass, field
from typing import Any

from tsr_verl.envs.core import FORK_RNG_MODES
from tsr_verl.envs.parsing import ParseConfig
from tsr_verl.envs.prompts import PromptConfig
from tsr_verl.fields import build, check_bounds, checked_kwargs, setting

STRATEGIES = ("naive", "best_of_n", "beam", "lookahead", "trajectory_best_of_n")


@dataclass(frozen=True)
class SearchConfig:
    """How rollouts are searched. Defaults follow the paper (M=4, B=2, D=2)."""

    strategy: str = setting("naive", choices=STRATEGIES)
    """One of ``naive``, ``best_of_n``, ``beam``, ``lookahead``, ``trajectory_best_of_n``."""
    num_candidates: int = setting(4, ge=1)
    """M: candidates per beam per turn (N whole episodes for ``trajectory_best_of_n``)."""
    beam_width: int = setting(2, ge=1)
    """B: partial trajectories kept per turn (``beam``, ``lookahead``; 1 for ``best_of_n``)."""
    lookahead_depth: int = setting(2, ge=0)
    """D: turns simulated with the policy on a fork after each candidate (``lookahead``)."""
    lookahead_greedy: bool = True
    """Simulate with greedy decoding (``False``: sample with the rollout temperature)."""
    scorer: str | None = None
    """Scorer name or ``module:function``; ``None`` = ``env_reward`` (``return_to_go`` for lookahead)."""
    score_samples: int = setting(1, ge=1)
    """K: score on K forks and average (useful for stochastic envs)."""
    score_rng: str = setting("independent", choices=FORK_RNG_MODES)
    """Fork RNG for scoring: ``independent`` (honest) or ``copy`` (peeks at the real random future)."""
    invalid_last: bool = True
    """Rank a candidate that executed no action (no valid action parsed) below every candidate
    that executed one, whatever the scorer says: the authors' rule (TSR_RAGEN scores it -1e6).
    ``False`` ranks it by its score, where e.g. a -0.1 format penalty can tie a -0.1 Sokoban move.
    ``trajectory_best_of_n`` applies the same rule to whole episodes: the best return among the
    episodes with the fewest such turns (``False``: best return, the authors' best-of-N)."""
    distinct_beams: bool = False
    """Per-turn strategies: when a turn's survivors are committed, one whose executed actions
    repeat an earlier survivor's is set aside and fills the width only if too few distinct ones
    exist (never above a candidate that executed no action). Group-coupled searches
    (``group_mode=coupled``) turn it on, so their kept beams (the n members) differ."""
    return_top: int = setting(1, ge=1)
    """L: return the best L trajectories (distinct beams / episodes) instead of only the best."""
    record_tree: bool = False
    """Keep the whole search tree in the result (for dumps and visualisation)."""
    seed: int = 0
    """Seed of the tie-breaking RNG (combined with the episode seed)."""

    def __post_init__(self) -> None:
        check_bounds(self, "tsr")

    @property
    def resolved_scorer(self) -> str:
        if self.scorer:
            return self.scorer
        return "return_to_go" if self.strategy == "lookahead" else "env_reward"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SearchConfig:
        """Build from the ``tsr`` keys; unknown keys are an error that lists the valid ones."""
        return build(cls, data, "tsr")


@dataclass(frozen=True)
class EpisodeConfig:
    """How one episode is played: turn and action budgets, parsing and prompt wording."""

    max_turns: int = setting(5, ge=1)
    """K: assistant turns per episode (RAGEN/TSR: 5)."""
    max_actions: int = setting(10, ge=1)
    """Env actions per episode (RAGEN's ``max_actions_per_traj``)."""
    parse: ParseConfig = field(default_factory=ParseConfig)
    """Answer format and format penalty."""
    prompt: PromptConfig = field(default_factory=PromptConfig)
    """Wording of the per-turn user messages."""

    def __post_init__(self) -> None:
        check_bounds(self, "tsr")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> EpisodeConfig:
        """Build from the episode keys (``parse``/``prompt`` as nested mappings); unknown keys at
        any level are an error that names where they are and lists the valid ones."""
        data = checked_kwargs(cls, data, "episode")
        if isinstance(data.get("parse"), dict):
            data["parse"] = build(ParseConfig, data["parse"], "episode.parse")
        if isinstance(data.get("prompt"), dict):
            data["prompt"] = build(PromptConfig, data["prompt"], "episode.prompt")
        return cls(**data)
