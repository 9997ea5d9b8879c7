"""TSR search core: strategies, scorers and instance filtering, independent of veRL.

``SearchDriver(proposer, SearchConfig(strategy="beam"), EpisodeConfig()).run(env)`` plays one
episode with search; the proposer is any async callable returning candidate turns. Imports
nothing from veRL, vLLM or torch.
"""

from tsr_verl.search.config import STRATEGIES, EpisodeConfig, SearchConfig
from tsr_verl.search.driver import SearchDriver
from tsr_verl.search.filtering import FilterConfig, FilterResult, select_groups
from tsr_verl.search.group import GROUP_MODES, coupled_config, group_metrics, search_group
from tsr_verl.search.scorers import Evaluation, get_scorer, register_scorer
from tsr_verl.search.types import (
    Candidate,
    Context,
    Proposer,
    SearchCost,
    SearchResult,
    Selection,
    Trajectory,
    TurnRecord,
    search_metrics,
)

__all__ = [
    "GROUP_MODES",
    "STRATEGIES",
    "Candidate",
    "Context",
    "EpisodeConfig",
    "Evaluation",
    "FilterConfig",
    "FilterResult",
    "Proposer",
    "SearchConfig",
    "SearchCost",
    "SearchDriver",
    "SearchResult",
    "Selection",
    "Trajectory",
    "TurnRecord",
    "coupled_config",
    "get_scorer",
    "group_metrics",
    "register_scorer",
    "search_group",
    "search_metrics",
    "select_groups",
]
