"""Check a veRL job's TSR settings before any Ray worker starts.

``tsr-verl train`` composes the job's Hydra config exactly as ``main_ppo`` will (same config
path, name and overrides) and, if the job uses the TSR loops:

* errors (the job must not start): ``actor_rollout_ref.rollout.custom.tsr`` fails ``TSRConfig``
  (a typo fails in seconds with the key named, instead of minutes later inside a worker), or
  veRL's plugin loading did not register ``tsr_agent``;
* warnings (the job starts, the launcher prints them): settings veRL accepts but that do not do
  what they say. Training with ``tsr_agent`` without the TSR sampler (crashed episodes then enter
  GRPO with ``error_penalty``, and no ``tsr/*`` metrics are logged); ``algorithm.filter_groups``
  together with the TSR sampler (veRL's V1 trainer ignores it with a custom sampler); a dataset
  whose ``manifest.json`` (written by ``tsr-verl make-data``) has turn-1 prompt settings
  (``PROMPT_KEYS``: answer format, ``max_actions``) other than the job's ``tsr`` settings.

Jobs that do not use TSR are not touched.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TSR_LOOPS = ("tsr_agent", "tsr_eval")
TSR_SAMPLERS = ("TSRReplayBuffer", "TSRReplayBufferAsync")
PROMPT_KEYS = (
    "max_actions",
    "parse.action_sep",
    "parse.max_actions_per_turn",
    "parse.enable_think",
    "prompt.system",
    "prompt.max_response_words",
)
"""The settings that shape a row's stored turn-1 prompt (``envs.prompts.initial_messages``);
``format_penalty``, ``lenient`` etc. only affect parsing and scoring, so they may differ."""


@dataclass(frozen=True)
class PreflightResult:
    """What ``check`` found: an error stops the launch; warnings are printed and the job runs."""

    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def split_hydra_args(args: Sequence[str]) -> tuple[str | None, str, list[str]]:
    """``(config_path, config_name, overrides)`` from ``main_ppo``-style arguments."""
    path, name, overrides = None, "ppo_trainer", []
    it = iter(args)
    for arg in it:
        for flag in ("--config-path", "--config-name"):
            if arg == flag or arg.startswith(flag + "="):
                value = arg.split("=", 1)[1] if "=" in arg else next(it, "")
                path, name = (value, name) if flag == "--config-path" else (path, value)
                break
        else:
            overrides.append(arg)
    return path, name, overrides


def compose(args: Sequence[str]) -> Any:
    """The composed job config (an ``omegaconf.DictConfig``)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir, initialize_config_module

    path, name, overrides = split_hydra_args(args)
    if path is None:
        ctx = initialize_config_module("verl.trainer.config", version_base=None)
    else:
        ctx = initialize_config_dir(str(Path(path).resolve()), version_base=None)
    with ctx:
        return hydra_compose(config_name=name, overrides=overrides)


def check_job(args: Sequence[str]) -> str | None:
    """Return an error message for a bad TSR job, or ``None`` if it is fine (or not a TSR job)."""
    return check(args).error


def check(args: Sequence[str]) -> PreflightResult:
    """Errors and warnings of the job ``args`` (see the module docstring)."""
    from omegaconf import OmegaConf

    from tsr_verl.integration.loop_config import TSRConfig

    try:
        cfg = compose(args)
    except Exception as exc:  # noqa: BLE001 - report Hydra's own message
        return PreflightResult(f"the Hydra config does not compose: {exc}")
    rollout = cfg.actor_rollout_ref.rollout
    custom = rollout.get("custom")
    custom = (OmegaConf.to_container(custom, resolve=True) if custom is not None else None) or {}
    uses_tsr = rollout.agent.get("default_agent_loop") in TSR_LOOPS or "tsr" in custom
    if not uses_tsr:
        return PreflightResult()
    try:
        tsr = TSRConfig.from_dict(custom.get("tsr") or {})
    except (TypeError, ValueError) as exc:
        return PreflightResult(f"actor_rollout_ref.rollout.custom.{exc}")
    if not rollout.agent.get("agent_loop_config_path"):
        from tsr_verl.integration.registration import check_registered

        try:
            check_registered()
        except RuntimeError as exc:
            return PreflightResult(str(exc))
    manifests = dataset_manifests(cfg)
    return PreflightResult(warnings=[*sampler_warnings(cfg, manifests), *manifest_warnings(manifests, tsr)])


def _select(cfg: Any, key: str) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)


def dataset_manifests(cfg: Any) -> dict[str, dict[Path, dict[str, Any]]]:
    """``{"train_files" | "val_files": {manifest path: content}}`` of the ``manifest.json`` files next
    to the job's parquet files (folders without a readable one are skipped)."""
    out: dict[str, dict[Path, dict[str, Any]]] = {}
    for split in ("train_files", "val_files"):
        files = _select(cfg, f"data.{split}")
        files = [files] if isinstance(files, str) else list(files or [])
        for path in dict.fromkeys(Path(str(f)).parent / "manifest.json" for f in files):
            try:
                content = json.loads(path.read_text())
            except (OSError, ValueError):
                continue  # not written by make-data, or unreadable: nothing to compare
            if isinstance(content, dict):
                out.setdefault(split, {})[path] = content
    return out


def sampler_warnings(cfg: Any, manifests: dict[str, dict[Path, dict[str, Any]]]) -> list[str]:
    """Training with ``tsr_agent`` without the TSR sampler; ``filter_groups`` with it."""
    sampler = _select(cfg, "trainer.v1.sampler.custom_sampler.name")
    has_tsr_sampler = sampler in TSR_SAMPLERS
    rows_use_tsr = any(
        split.get("agent_name") == "tsr_agent"
        for content in manifests.get("train_files", {}).values()
        for split in (content.get("splits") or {}).values()
        if isinstance(split, dict)
    )
    default_tsr = _select(cfg, "actor_rollout_ref.rollout.agent.default_agent_loop") == "tsr_agent"
    out = []
    if (default_tsr or rows_use_tsr) and not _select(cfg, "trainer.val_only") and not has_tsr_sampler:
        out.append(
            "tsr_agent trains without the TSR sampler (trainer.v1.sampler.custom_sampler.name is "
            f"{sampler!r}, not TSRReplayBuffer): episodes that crashed (tsr_error=1) enter GRPO with "
            "tsr.error_penalty, and no tsr/* or tsr_filter/* metrics are logged; set "
            "trainer.v1.sampler.custom_sampler.path=pkg://tsr_verl.integration.sampler and .name=TSRReplayBuffer"
        )
    if has_tsr_sampler and _select(cfg, "algorithm.filter_groups.enable"):
        out.append(
            "algorithm.filter_groups.enable=true is ignored: veRL's V1 trainer does not apply it with the "
            f"custom sampler {sampler}; use its sampler_kwargs (e.g. include_zero=false, strategy=none) instead"
        )
    return out


def manifest_warnings(manifests: dict[str, dict[Path, dict[str, Any]]], tsr: Any) -> list[str]:
    """Datasets whose turn-1 prompts were written with other ``PROMPT_KEYS`` settings than the job's.

    Why: the prompt stored in each row (answer format, separator, actions per turn and per
    episode) was rendered by ``make-data``; the loop parses answers and words later turns with
    the job's settings, so a mismatch tells the policy one format and grades it by another."""
    episode = tsr.episode
    want = _flat({"parse": asdict(episode.parse), "prompt": asdict(episode.prompt), "max_actions": episode.max_actions})
    out = []
    for split, found in manifests.items():
        for path, content in found.items():
            have = _flat({k: content.get(k) for k in ("parse", "prompt", "max_actions")})
            differ = [k for k in PROMPT_KEYS if k in have and have[k] != want[k]]
            diffs = [f"{k}: dataset {have[k]!r}, job {want[k]!r}" for k in differ]
            if diffs:
                out.append(
                    f"data.{split}: {path} was written with other prompt settings than the job's "
                    f"actor_rollout_ref.rollout.custom.tsr ({'; '.join(diffs)}); re-run make-data with the "
                    "job's settings or set them in the job"
                )
    return out


def _flat(data: dict[str, Any]) -> dict[str, Any]:
    """``{"parse": {"action_sep": ...}}`` -> ``{"parse.action_sep": ...}`` (one level; None skipped)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items()})
        elif value is not None:
            out[key] = value
    return out
