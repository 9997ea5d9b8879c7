"""Shared fixtures. ``tests/`` is not a package (the verl wheel ships a top-level ``tests``);
pytest runs with ``--import-mode=importlib`` (see ``pytest.ini``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def smollm2_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2's tokenizer (read once from the embedded GGUF) saved as an HF folder."""
    from tsr_verl.integration.models import load_smollm2_tokenizer

    out = tmp_path_factory.mktemp("smollm2_tokenizer")
    load_smollm2_tokenizer().save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    """A tiny random Llama (hidden 128, 4 heads -> head_dim 32) with SmolLM2's tokenizer."""
    from tsr_verl.integration.models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny", tokenizer_dir=smollm2_tokenizer_dir)


def python_subprocess_env(**extra: str) -> dict[str, str]:
    """The test process's environment minus the CPU-launch variables, plus ``extra``."""
    from tsr_verl.cli.launch import CPU_ENV

    env = {k: v for k, v in os.environ.items() if k not in CPU_ENV}
    env.update(extra)
    return env


@pytest.fixture
def subprocess_env():
    return python_subprocess_env


PYTHON = sys.executable


RAY_DAEMONS = ("raylet", "gcs_server", "dashboard", "vllm", "ray::")


def leftover_processes(since: float, settle_s: float = 20.0) -> list[str]:
    """Ray/vLLM processes created after ``since`` that are still alive ``settle_s`` seconds after
    the job returned (a Ray worker was once seen finishing its own exit a moment after the launcher
    had reaped everything it could see; anything alive after the settle time is a real leftover)."""
    import time

    deadline = time.monotonic() + settle_s
    while True:
        found = _ray_vllm_processes(since)
        if not found or time.monotonic() >= deadline:
            return found
        time.sleep(1.0)


def _ray_vllm_processes(since: float) -> list[str]:
    """Live Ray/vLLM processes created after ``since``. A zombie is not one: it has exited and
    only waits for its parent to reap it (seen once in CI: a Ray actor listed by its 15-character
    name with an empty command line, i.e. already dead, 20 s after ``ray.shutdown()``)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["name", "cmdline", "create_time", "status"]):
        try:
            if proc.info["create_time"] < since or proc.info["status"] in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD):
                continue
            text = " ".join(proc.info["cmdline"] or []) + " " + (proc.info["name"] or "")
            if any(tag in text for tag in RAY_DAEMONS):
                found.append(f"{proc.pid}: {text[:120]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture
def leftovers():
    """``leftovers(since)`` lists Ray/vLLM processes a test left behind."""
    return leftover_processes
