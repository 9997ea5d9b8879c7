"""How TSR's numbers are named: one spelling per episode, another per logged training step.

A search value such as ``forks`` goes through two names:

* **episode key** ``tsr_forks`` (``episode_key``): an entry of the agent loop's per-episode
  ``reward_extra_info``. veRL uses these keys as columns of its validation dumps and as one
  segment of metric paths (``val-aux/<data_source>/<key>/mean@N``), so they hold no ``/``; the
  ``tsr_`` prefix keeps TSR's own values apart from the env outcome keys (``success``,
  ``episode_return``, ...), which have none.
* **metric name** ``tsr/forks`` (``metric_name``): the per-step mean the sampler logs, under one
  ``tsr/`` section in W&B/TensorBoard; outcome keys join it too (``success`` -> ``tsr/success``).

``base_name`` undoes either prefix (``tsr_forks`` / ``tsr/forks`` -> ``forks``), for tables.
Everything that writes or reads these names (the agent loop, the sampler's metrics, the eval
report) goes through this module, so the spellings cannot drift apart.
"""

from __future__ import annotations

EPISODE_PREFIX = "tsr_"
"""Prefix of TSR's own per-episode ``reward_extra_info`` keys."""
METRIC_PREFIX = "tsr/"
"""Prefix (section) of the per-step metrics the sampler logs."""


def episode_key(name: str) -> str:
    """``forks`` -> ``tsr_forks``: the per-episode ``reward_extra_info`` key of a TSR value."""
    return EPISODE_PREFIX + name


def metric_name(key: str, prefix: str = METRIC_PREFIX) -> str:
    """``tsr_forks`` -> ``tsr/forks``, ``success`` -> ``tsr/success``: the step metric logged for
    a per-episode key (``prefix`` replaces ``tsr/`` where a caller keeps another section)."""
    return prefix + key.removeprefix(EPISODE_PREFIX)


def base_name(key: str) -> str:
    """``tsr_forks`` or ``tsr/forks`` -> ``forks`` (other keys unchanged)."""
    return key.removeprefix(EPISODE_PREFIX).removeprefix(METRIC_PREFIX)
