"""Per-step training metrics derived from the TSR agent loop's per-episode ``reward_extra_info``.

veRL 0.9.1's V1 trainer drops ``extra_fields.reward_extra_info`` from training metrics
(``PPOTrainer._compute_metrics`` only reads tensors and ``num_turns``; validation does log them as
``val-aux/<data_source>/<key>/...``). ``tsr_verl.integration.sampler.TSRReplayBuffer`` calls these helpers on
every sampled training batch and returns the result as sampler metrics, which the trainer merges
into the step's logged metrics (console / W&B / TensorBoard). Names follow
``tsr_verl.search.metric_names`` (episode key ``tsr_forks`` -> step metric ``tsr/forks``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from numbers import Real
from typing import Any

from tsr_verl.search.metric_names import METRIC_PREFIX, episode_key, metric_name

FILTER_PREFIX = "tsr_filter/"
ERROR_KEY = episode_key("error")
"""``reward_extra_info`` flag (1.0) of an episode that ended because the env or the search raised."""


def reward_extra_info_metrics(
    extra_fields: Iterable[Mapping[str, Any] | None], prefix: str = METRIC_PREFIX
) -> dict[str, float]:
    """Mean of every numeric ``reward_extra_info`` entry over the given episodes.

    ``extra_fields`` holds one ``AgentLoopOutput.extra_fields`` dict per episode. Non-numeric and
    non-finite values are skipped; a key absent from some episodes is averaged over those that have it.
    """
    values: dict[str, list[float]] = defaultdict(list)
    for fields in extra_fields:
        info = fields.get("reward_extra_info") if isinstance(fields, Mapping) else None
        if not isinstance(info, Mapping):
            continue
        for key, value in info.items():
            number = _as_float(value)
            if number is not None:
                values[key].append(number)
    return {metric_name(k, prefix): sum(v) / len(v) for k, v in sorted(values.items())}


def failed_sessions(extra_fields: Iterable[Mapping[str, Any] | None]) -> list[int]:
    """Positions of the episodes whose ``reward_extra_info`` has ``tsr_error`` set (non-zero)."""
    out = []
    for i, fields in enumerate(extra_fields):
        info = fields.get("reward_extra_info") if isinstance(fields, Mapping) else None
        flag = _as_float(info.get(ERROR_KEY, 0.0)) if isinstance(info, Mapping) else None
        if flag:  # None (absent / not a number) and 0.0 are clean
            out.append(i)
    return out


def filter_metrics(
    stats: Mapping[str, float], kept: int, dropped: int, fallback: bool, prefix: str = FILTER_PREFIX
) -> dict[str, float]:
    """Name ``select_groups`` statistics for logging (``tsr_filter/groups_kept`` etc.).

    ``fallback`` means the filter would have dropped every group and the whole batch was kept, so
    the "after" statistics equal the "before" ones. ``zero_variance_fraction`` is the share of
    groups whose returns all agree (no GRPO signal), the number search tends to raise.
    """
    after = "before" if fallback else "after"
    groups = float(stats["groups_before"])
    return {
        f"{prefix}groups_before": float(stats["groups_before"]),
        f"{prefix}groups_kept": float(kept),
        f"{prefix}groups_dropped": float(dropped),
        f"{prefix}zero_variance_groups": float(stats["zero_variance_groups"]),
        f"{prefix}zero_variance_fraction": float(stats["zero_variance_groups"]) / groups if groups else 0.0,
        f"{prefix}mean_std_before": float(stats["mean_std_before"]),
        f"{prefix}mean_std_after": float(stats[f"mean_std_{after}"]),
        f"{prefix}mean_return_before": float(stats["mean_return_before"]),
        f"{prefix}mean_return_after": float(stats[f"mean_return_{after}"]),
        f"{prefix}fallback_keep_all": float(fallback),
    }


def _as_float(value: Any) -> float | None:
    if not isinstance(value, bool | Real) and callable(getattr(value, "item", None)):
        try:  # numpy / torch scalars; multi-element arrays raise and are skipped
            value = value.item()
        except (TypeError, ValueError, RuntimeError):
            return None
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, Real) and math.isfinite(float(value)):
        return float(value)
    return None
