"""Check a veRL job's TSR settings before any Ray worker starts.

``tsr-verl train`` composes the job's Hydra config exactly as ``main_ppo`` will (same config
path, name and overrides) and, if the job uses the TSR loops, (1) validates
``actor_rollout_ref.rollout.custom.tsr`` with ``TSRConfig`` so a typo fails in seconds with the
key named, instead of minutes later inside a worker, and (2) checks that veRL's plugin loading
registered ``tsr_agent``. Jobs that do not use TSR are not touched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

TSR_LOOPS = ("tsr_agent", "tsr_eval")


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
    from omegaconf import OmegaConf

    from tsr_verl.config import TSRConfig

    try:
        cfg = compose(args)
    except Exception as exc:  # noqa: BLE001 - report Hydra's own message
        return f"the Hydra config does not compose: {exc}"
    rollout = cfg.actor_rollout_ref.rollout
    custom = rollout.get("custom")
    custom = (OmegaConf.to_container(custom, resolve=True) if custom is not None else None) or {}
    uses_tsr = rollout.agent.get("default_agent_loop") in TSR_LOOPS or "tsr" in custom
    if not uses_tsr:
        return None
    try:
        TSRConfig.from_dict(custom.get("tsr") or {})
    except (TypeError, ValueError) as exc:
        return f"actor_rollout_ref.rollout.custom.{exc}"
    if not rollout.agent.get("agent_loop_config_path"):
        from tsr_verl.registration import check_registered

        try:
            check_registered()
        except RuntimeError as exc:
            return str(exc)
    return None
