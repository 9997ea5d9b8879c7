"""``TSRConfig``: everything the ``tsr_agent`` loop reads, from one flat-ish dict.

Where the values come from, lowest precedence first:

1. the dataclass defaults below (the paper's settings where it has one);
2. the ``tsr:`` mapping of the loop's entry in ``tsr_verl/integration/agent_loops.yaml`` (if used);
3. the job's ``actor_rollout_ref.rollout.custom.tsr`` (Hydra: ``+actor_rollout_ref.rollout.custom.tsr.KEY=V``);
4. a dataset row's ``extra_info.tsr`` (per-episode overrides, e.g. a harder env for some rows).

Keys (all optional)::

    strategy, num_candidates, beam_width, lookahead_depth, lookahead_greedy, scorer,
    score_samples, score_rng, return_top, record_tree, seed      -> SearchConfig (tsr_verl/search)
                                              (return_top must be 1: one trajectory per session)
    max_turns, max_actions                                       -> EpisodeConfig
    parse: {action_sep, max_actions_per_turn, enable_think, format_penalty, penalize_partial, lenient}
    prompt: {system, max_response_words, show_reward, invalid_warning}
    group_mode                                                   -> independent | coupled
    max_tokens_per_turn                                          -> cap of each generate call
    error_penalty                                                -> reward of an episode that crashed
    dump_dir                                                     -> write every episode as JSONL here

Validation errors name the offending key and list the valid ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from tsr_verl.fields import check_bounds, reject_unknown, setting
from tsr_verl.search.config import EpisodeConfig, SearchConfig
from tsr_verl.search.group import GROUP_MODES

_SEARCH_KEYS = frozenset(f.name for f in fields(SearchConfig))
_EPISODE_KEYS = frozenset(f.name for f in fields(EpisodeConfig))


@dataclass(frozen=True)
class TSRConfig:
    """The ``tsr_agent`` loop's settings (see the module docstring for keys and precedence)."""

    search: SearchConfig = field(default_factory=SearchConfig)
    """Strategy and its sizes, scorer, scoring forks."""
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    """Turn/action budgets, answer format, prompt wording."""
    group_mode: str = setting("independent", choices=GROUP_MODES)
    """How the ``rollout.n`` sessions of a prompt (a GRPO group) are searched: ``independent``
    (each runs its own search and trains its best path) or ``coupled`` (one search per prompt,
    its n best distinct complete trajectories are the n members: ``tsr_verl/search/group.py``,
    ``tsr_verl/integration/coupled.py``). ``coupled`` needs a search strategy (not ``naive``);
    ``tsr_eval`` always plays alone."""
    max_tokens_per_turn: int = setting(128, ge=1)
    """Cap on the tokens of one assistant turn (also bounded by what is left of response_length)."""
    error_penalty: float = -1.0
    """Reward given to an episode that ended because an env step or the search raised."""
    dump_dir: str | None = None
    """If set, every episode is appended to ``<dump_dir>/episodes-<pid>.jsonl`` (chosen path,
    plus the whole search tree with ``record_tree``); view with ``tsr-verl view``."""

    def __post_init__(self) -> None:
        check_bounds(self, "tsr")
        if self.group_mode == "coupled" and self.search.strategy == "naive":
            raise ValueError("tsr.group_mode=coupled needs a search strategy: 'naive' has no branches to share")
        if self.search.return_top != 1:
            # A veRL session trains exactly one trajectory (AgentLoopOutput); accepting L > 1 would
            # silently search for L and train on the first.
            raise ValueError(
                f"tsr.return_top must be 1 for the tsr_agent loop, got {self.search.return_top}: each veRL "
                "session trains one trajectory (rollout.n sessions form the GRPO group)"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> TSRConfig:
        """Build from a plain mapping (OmegaConf containers must be converted first)."""
        data = dict(data or {})
        own_keys = {f.name for f in fields(cls)} - {"search", "episode"}
        reject_unknown(data, sorted(_SEARCH_KEYS | _EPISODE_KEYS | own_keys), "tsr")
        search = SearchConfig.from_dict({k: v for k, v in data.items() if k in _SEARCH_KEYS})
        episode = EpisodeConfig.from_dict({k: v for k, v in data.items() if k in _EPISODE_KEYS})
        own = {k: v for k, v in data.items() if k in own_keys}
        return cls(search=search, episode=episode, **own)


def merge_layers(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge config layers, later ones winning; nested ``parse``/``prompt`` merge key by key."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in dict(layer or {}).items():
            if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
                out[key] = {**out[key], **dict(value)}
            else:
                out[key] = dict(value) if isinstance(value, Mapping) else value
    return out
