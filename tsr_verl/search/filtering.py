"""Instance filtering: which prompt groups a training step keeps (RAGEN's StarPO-S).

Pure functions over ``{group_id: [episode returns]}``. A group's score is the standard deviation
of its returns (unbiased, as ``torch.std`` computes it; 0 for a single episode): groups where all
episodes scored the same give GRPO no signal. Strategies, following RAGEN's ``rollout_filter``:

* ``top_k_ratio`` (StarPO-S, the TSR paper's "keep the top p%"): keep the
  ``max(1, min(int(value * num_groups), candidates))`` groups with the largest std. ``int()``
  rounds down, as RAGEN does: 0.25 of 6 groups keeps 1.
* ``top_k``: keep ``max(1, min(int(value), candidates))`` groups with the largest std.
* ``top_p``: RAGEN-2's linear nucleus: the fewest largest-std groups whose std sum reaches
  ``value * total - 0.01``; none if that cannot be reached with positive-std groups.
* ``none``: keep everything (``include_zero`` still applies).

``include_zero=False`` first drops zero-variance groups (|std| <= 1e-10), as DAPO's dynamic
sampling and RAGEN's ``include_zero`` do; ``top_k_ratio`` still counts all groups for ``k``.
Ties in std keep the earlier group (input order), so selection is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from tsr_verl.fields import check_bounds, setting

FILTER_STRATEGIES = ("top_k_ratio", "top_k", "top_p", "none")
ZERO_EPS = 1e-10
TOP_P_EPS = 0.01


@dataclass(frozen=True)
class FilterConfig:
    """Group filtering settings (mirrors ``tsr.filter.*`` keys)."""

    strategy: str = setting("top_k_ratio", choices=FILTER_STRATEGIES)
    """One of ``top_k_ratio``, ``top_k``, ``top_p``, ``none``."""
    value: float = setting(0.25, gt=0)
    """Ratio for ``top_k_ratio``, count for ``top_k``, mass for ``top_p``."""
    include_zero: bool = True
    """Keep zero-variance groups eligible; ``False`` drops them first."""

    def __post_init__(self) -> None:
        check_bounds(self, "filter")


@dataclass(frozen=True)
class FilterResult:
    """Kept and dropped group ids (input order) and before/after statistics."""

    kept: list[Hashable]
    dropped: list[Hashable]
    stats: dict[str, float] = field(default_factory=dict)


def group_std(returns: Sequence[float]) -> float:
    """Unbiased standard deviation (``torch.std``'s default); 0.0 for fewer than two values."""
    n = len(returns)
    if n < 2:
        return 0.0
    mean = sum(returns) / n
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / (n - 1))


def select_groups(groups: Mapping[Hashable, Sequence[float]], config: FilterConfig | None = None) -> FilterResult:
    """Apply ``config`` to ``groups`` and return what was kept (see module docstring)."""
    cfg = config or FilterConfig()
    ids = list(groups)
    if not ids:
        return FilterResult([], [], _stats(groups, [], []))
    stds = {g: group_std(groups[g]) for g in ids}
    candidates = ids if cfg.include_zero else [g for g in ids if abs(stds[g]) > ZERO_EPS]
    ranked = sorted(candidates, key=lambda g: -stds[g])  # stable: ties keep input order
    if cfg.strategy == "none" or not ranked:
        chosen = ranked
    elif cfg.strategy == "top_k_ratio":
        chosen = ranked[: max(1, min(int(cfg.value * len(ids)), len(ranked)))]
    elif cfg.strategy == "top_k":
        chosen = ranked[: max(1, min(int(cfg.value), len(ranked)))]
    else:
        chosen = ranked if cfg.value >= 1.0 else _top_p(ranked, stds, cfg.value)
    keep = set(chosen)
    kept = [g for g in ids if g in keep]
    dropped = [g for g in ids if g not in keep]
    return FilterResult(kept, dropped, _stats(groups, kept, ids, stds))


def _top_p(ranked: list[Hashable], stds: Mapping[Hashable, float], mass: float) -> list[Hashable]:
    threshold = mass * sum(stds[g] for g in ranked) - TOP_P_EPS
    total, chosen = 0.0, []
    for g in ranked:
        if total >= threshold or stds[g] <= 0:
            break
        total += stds[g]
        chosen.append(g)
    return chosen if total >= threshold else []


def _stats(
    groups: Mapping[Hashable, Sequence[float]],
    kept: list[Hashable],
    ids: list[Hashable],
    stds: Mapping[Hashable, float] | None = None,
) -> dict[str, float]:
    stds = stds or {}

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    def summary(sel: list[Hashable], tag: str) -> dict[str, float]:
        return {
            f"groups_{tag}": float(len(sel)),
            f"mean_std_{tag}": mean([stds[g] for g in sel]),
            f"mean_return_{tag}": mean([r for g in sel for r in groups[g]]),
        }

    zero = sum(1 for g in ids if abs(stds.get(g, 0.0)) <= ZERO_EPS)
    return {**summary(ids, "before"), **summary(kept, "after"), "zero_variance_groups": float(zero)}
