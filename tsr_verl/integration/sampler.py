"""TSR instance filtering (StarPO-S) and TSR step metrics for veRL 0.9.1's V1 trainer.

What: ``TSRReplayBuffer`` (``trainer.v1.trainer_mode=sync``) and ``TSRReplayBufferAsync`` (the
async modes) subclass veRL's V1 ``ReplayBuffer``. After veRL picks the ``batch_size`` prompt groups
to train on (``_select_prompt_uids``), they rank those groups by the std of their episode returns
with ``tsr_verl.search.filtering.select_groups``, clear the dropped groups from TransferQueue, and
return only the kept ones, so filtering is independent of the advantage estimator (GRPO or GAE).
``sample`` also returns ``tsr_filter/*`` statistics and ``tsr/*`` means of every numeric
``reward_extra_info`` entry; the trainer merges sampler metrics into the step's logged metrics.

Failed episodes: a session the agent loop ended with ``tsr_error=1`` (env or search exception)
carries ``error_penalty`` as its return, which would skew its group's mean/std and make the group
look informative. Every group containing one is therefore dropped (and cleared from TransferQueue)
before anything is ranked, whether or not filtering is enabled, and counted in
``tsr_filter/error_groups``; ``tsr/*`` means skip failed sessions, except ``tsr/error``, the share
of failed sessions among all sampled. A step whose groups all failed raises ``RuntimeError``.

Why here: the V1 trainer hands custom samplers nothing but ``sampler_kwargs`` (it does not wire
``algorithm.filter_groups`` into them), and its ``_compute_metrics`` ignores ``reward_extra_info``;
the sampler is the one documented V1 hook that sees each step's groups and returns metrics. A
trainer subclass would need a new ``trainer_mode`` name, which the base class compares with
``"sync"`` in several places. Semantics follow RAGEN's StarPO-S: the batch shrinks to the kept
groups (veRL pads it with no-op rows to the mini-batch multiple); nothing is regenerated.

Settings come from ``trainer.v1.sampler.sampler_kwargs`` and mirror upstream PR #7894's
``algorithm.reward_variance_filtering`` keys (a recipe may set
``sampler_kwargs: ${algorithm.reward_variance_filtering}``):

* ``enable`` (bool, False): filter groups; when False only metrics are logged.
* ``strategy`` (``top_k_ratio`` | ``top_k`` | ``top_p`` | ``none``, ``top_k_ratio``).
  ``top_k_ratio`` keeps ``int(top_k_ratio * groups)`` (at least 1) groups with the largest std.
* ``top_k_ratio`` (float in (0, 1], 0.25); ``top_k`` (int >= 1, required for ``top_k``);
  ``top_p`` (float in (0, 1], 0.9): std mass kept, RAGEN-2's nucleus (std, not variance).
* ``include_zero`` (bool, True): False drops zero-variance groups first (``strategy=none`` makes
  this a pure zero-variance drop).
* ``metric`` (str, ``reward``): the per-episode value whose std ranks groups. ``reward`` sums
  ``rm_scores`` (the TSR episode return); any other name reads
  ``extra_fields.reward_extra_info[metric]``, like ``algorithm.filter_groups.metric``.
* ``log_extra_info`` (bool, True): log ``tsr/<key>`` means of ``reward_extra_info``.

If a filter would drop every group, the whole batch is kept (``tsr_filter/fallback_keep_all=1``).
Validation batches are never filtered.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import transfer_queue as tq
from omegaconf import DictConfig, OmegaConf
from transfer_queue import KVBatchMeta
from verl.trainer.ppo.v1.replay_buffer import ReplayBuffer, ReplayBufferAsync

from tsr_verl.fields import build, check_bounds, setting
from tsr_verl.integration.metrics import ERROR_KEY, failed_sessions, filter_metrics, reward_extra_info_metrics
from tsr_verl.integration.sample_keys import last_output_keys, parse_sample_key
from tsr_verl.search.filtering import FILTER_STRATEGIES, FilterConfig, select_groups
from tsr_verl.search.metric_names import metric_name

logger = logging.getLogger(__name__)

KWARGS_PATH = "trainer.v1.sampler.sampler_kwargs"
STRATEGIES = FILTER_STRATEGIES
REWARD_METRIC = "reward"
FIXED_NOTE = " (std uses ddof=1 and top_p a fixed 0.01 epsilon, so ddof/selection_eps are not settable)"
"""Appended to the unknown-key error: the upstream keys that are deliberately not settable."""


def _key(name: str) -> str:
    return f"{KWARGS_PATH}.{name}"


@dataclass(frozen=True)
class VarianceFilterSettings:
    """Parsed ``sampler_kwargs`` (see the module docstring for each key); bounds sit next to each
    field, and every error names the offending ``trainer.v1.sampler.sampler_kwargs`` key."""

    enable: bool = setting(False, kind=bool)
    strategy: str = setting("top_k_ratio", choices=STRATEGIES)
    top_k_ratio: float = setting(0.25, kind=float, gt=0, le=1)
    top_k: int | None = setting(None, kind=int, ge=1, optional=True)
    top_p: float = setting(0.9, kind=float, gt=0, le=1)
    include_zero: bool = setting(True, kind=bool)
    metric: str = setting(REWARD_METRIC, nonblank=True)
    log_extra_info: bool = setting(True, kind=bool)

    def __post_init__(self) -> None:
        check_bounds(self, KWARGS_PATH)
        if self.strategy == "top_k" and self.top_k is None:
            raise ValueError(f"{_key('strategy')}=top_k requires {_key('top_k')}")

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any] | DictConfig | None) -> VarianceFilterSettings:
        """Validate ``sampler_kwargs``; raise ``ValueError`` naming the offending key."""
        raw = OmegaConf.to_container(kwargs, resolve=True) if isinstance(kwargs, DictConfig) else dict(kwargs or {})
        return build(cls, raw, KWARGS_PATH, note=FIXED_NOTE)

    def filter_config(self) -> FilterConfig | None:
        """The ``select_groups`` configuration, or ``None`` when filtering is disabled."""
        if not self.enable:
            return None
        value = {"top_k_ratio": self.top_k_ratio, "top_k": self.top_k, "top_p": self.top_p}.get(self.strategy, 1.0)
        return FilterConfig(strategy=self.strategy, value=float(value), include_zero=self.include_zero)


class TSRReplayBuffer(ReplayBuffer):
    """Sync-mode V1 replay buffer with StarPO-S group filtering and TSR metrics."""

    sync_mode = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if (self.trainer_mode == "sync") != self.sync_mode:
            wanted = "TSRReplayBuffer" if self.trainer_mode == "sync" else "TSRReplayBufferAsync"
            raise ValueError(
                f"trainer.v1.sampler.custom_sampler.name={type(self).__name__} does not support "
                f"trainer.v1.trainer_mode={self.trainer_mode}; use {wanted}"
            )
        self.settings = VarianceFilterSettings.from_kwargs(self.sampler_kwargs)
        self._tsr_metrics: dict[str, float] = {}

    def sample(self, global_steps: int, partition_id: str, batch_size: int) -> tuple[KVBatchMeta, dict]:
        """veRL's sampling; the training partition additionally gets ``tsr_filter/*`` and ``tsr/*``."""
        self._tsr_metrics = {}
        batch, metrics = super().sample(global_steps, partition_id, batch_size)
        if partition_id != "val":
            metrics.update(self._tsr_metrics)
        return batch, metrics

    def _select_prompt_uids(
        self, partition_id: str, sampleable_keys: set[str], batch_size: int
    ) -> tuple[list[str], dict[str, dict], dict[str, int]]:
        selected, snapshot, steps = super()._select_prompt_uids(partition_id, sampleable_keys, batch_size)
        if partition_id == "val" or not selected:
            return selected, snapshot, steps
        kept, self._tsr_metrics = self.filter_selected(partition_id, selected, snapshot)
        return kept, snapshot, steps

    def filter_selected(
        self, partition_id: str, selected: list[str], snapshot: Mapping[str, dict]
    ) -> tuple[list[str], dict[str, float]]:
        """Apply the configured filter to ``selected`` prompt uids; clear the dropped groups.

        Returns the kept uids and this step's metrics.
        """
        chosen = set(selected)
        keys = last_output_keys([key for key in snapshot if parse_sample_key(key).uid in chosen])
        returns, extra_fields = self._fetch(partition_id, keys)
        failed = failed_sessions(extra_fields)
        metrics = self._extra_info_metrics(extra_fields, failed)
        selected = self._drop_failed_groups(partition_id, selected, keys, extra_fields, failed, metrics)
        config = self.settings.filter_config()
        if config is None:
            return selected, metrics
        # Sorted uids: ties in std break the same way whatever order veRL's set iteration gave.
        result = select_groups({uid: returns.get(uid, []) for uid in sorted(selected)}, config)
        fallback = not result.kept
        if fallback:
            logger.warning("TSR filter %s would drop all %d groups; keeping them all", config, len(selected))
        kept, dropped = (list(selected), []) if fallback else (list(result.kept), list(result.dropped))
        self._clear_groups(partition_id, set(dropped))
        metrics.update(filter_metrics(result.stats, len(kept), len(dropped), fallback))
        return kept, metrics

    def _extra_info_metrics(self, extra_fields: list[dict], failed: list[int]) -> dict[str, float]:
        """``tsr/*`` means over the sessions that did not fail, plus ``tsr/error`` over all."""
        if not self.settings.log_extra_info:
            return {}
        skip = set(failed)
        metrics = reward_extra_info_metrics(f for i, f in enumerate(extra_fields) if i not in skip)
        if extra_fields:
            metrics[metric_name(ERROR_KEY)] = len(failed) / len(extra_fields)
        return metrics

    def _drop_failed_groups(
        self,
        partition_id: str,
        selected: list[str],
        keys: list[str],
        extra_fields: list[dict],
        failed: list[int],
        metrics: dict[str, float],
    ) -> list[str]:
        """Clear every group with a failed session from TransferQueue; return the other uids.

        Counts them in ``metrics`` (``tsr_filter/error_groups``); raises if no group is left."""
        bad = {parse_sample_key(keys[i]).uid for i in failed}
        metrics["tsr_filter/error_groups"] = float(len(bad))
        if not bad:
            return selected
        clean = [uid for uid in selected if uid not in bad]
        if not clean:
            fields = extra_fields[failed[0]]
            message = fields.get("tsr_error_message", "no tsr_error_message") if isinstance(fields, dict) else ""
            raise RuntimeError(
                f"every one of the {len(selected)} prompt groups of this step has a failed TSR episode "
                f"(tsr_error=1), nothing is left to train on; e.g. {keys[failed[0]]}: {message}"
            )
        logger.warning("TSR sampler: dropping %d of %d groups with a failed episode", len(bad), len(selected))
        self._clear_groups(partition_id, bad)
        return clean

    def _fetch(self, partition_id: str, keys: list[str]) -> tuple[dict[str, list[float]], list[dict]]:
        """Read the filter metric (per uid) and ``extra_fields`` of ``keys`` from TransferQueue
        (``extra_fields`` always: it says which sessions failed)."""
        use_reward = self.settings.metric == REWARD_METRIC
        fields = (["rm_scores"] if use_reward else []) + ["extra_fields"]
        if not keys:
            return {}, []
        data = tq.kv_batch_get(keys=keys, partition_id=partition_id, select_fields=fields)
        extra_fields = [getattr(v, "data", v) for v in data["extra_fields"]]
        rm_scores = list(data["rm_scores"]) if use_reward else []
        returns: dict[str, list[float]] = {}
        for i, key in enumerate(keys):
            if use_reward:
                value = float(rm_scores[i].sum().item())
            else:
                info = extra_fields[i].get("reward_extra_info", {}) if isinstance(extra_fields[i], dict) else {}
                if self.settings.metric not in info:
                    raise RuntimeError(
                        f"{_key('metric')}={self.settings.metric!r} is missing from reward_extra_info of {key}"
                    )
                value = float(info[self.settings.metric])
            returns.setdefault(parse_sample_key(key).uid, []).append(value)
        return returns, extra_fields


class TSRReplayBufferAsync(TSRReplayBuffer, ReplayBufferAsync):
    """The same filter and metrics for ``trainer.v1.trainer_mode`` ``colocate_async`` / ``separate_async``."""

    sync_mode = False
