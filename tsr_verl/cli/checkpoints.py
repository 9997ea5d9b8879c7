"""What ``tsr-verl eval --model`` accepts: an HF model folder, or a veRL FSDP checkpoint that
veRL's own model merger turns into one (once, cached next to the evaluation's output)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any


def _is_hf_folder(path: Path) -> bool:
    weights = [*path.glob("*.safetensors"), *path.glob("*.bin"), *path.glob("*.safetensors.index.json")]
    return (path / "config.json").is_file() and bool(weights)


def _is_actor_checkpoint(path: Path) -> bool:
    return (path / "fsdp_config.json").is_file() or any(path.glob("model_world_size_*_rank_0.pt"))


def classify_model(path: Path) -> tuple[str, Path]:
    """``("hf", folder)`` or ``("checkpoint", <actor folder>)``; ``ValueError`` when neither."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"--model {path}: no such file or folder")
    if _is_hf_folder(path):
        return "hf", path
    if _is_actor_checkpoint(path):
        return "checkpoint", path
    if _is_actor_checkpoint(path / "actor"):
        return "checkpoint", path / "actor"
    raise ValueError(
        f"--model {path}: neither an HF model folder (config.json + weights) nor a veRL FSDP checkpoint "
        "(global_step_N/ or its actor/ with fsdp_config.json and model_world_size_*_rank_*.pt)"
    )


def convert_checkpoint(actor_dir: Path, target: Path, log: Any) -> Path:
    """Merge an FSDP actor checkpoint into an HF folder with veRL's model merger (once)."""
    if _is_hf_folder(target):
        print(f"[tsr_verl] using the converted model in {target}", file=log, flush=True)
        return target
    tmp = target.with_name(target.name + ".partial")
    cmd = [
        sys.executable,
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
        "fsdp",
        "--local_dir",
        str(actor_dir),
        "--target_dir",
        str(tmp),
    ]
    print(f"[tsr_verl] converting: {' '.join(cmd)}", file=log, flush=True)
    done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0 or not _is_hf_folder(tmp):
        raise RuntimeError(f"veRL's model merger failed (exit {done.returncode}) on {actor_dir}; see {log.name}")
    tmp.rename(target)
    return target
