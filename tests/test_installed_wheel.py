"""A regular (non-editable) install works: the recipes ship inside the wheel.

Builds the wheel, installs it with ``--no-deps`` into a fresh venv whose dependencies come from
this environment's site-packages (a path line in a ``.pth`` file: importable, but this checkout's
editable-install hook is *not* run), then from an unrelated directory resolves the quickstart,
``tsr-verl run`` and ``tsr-verl eval`` jobs with ``--dry-run`` (Hydra composes them; nothing
trains). Every config path in those commands must point into the installed package.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fresh venv's ``bin`` folder, with the wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(root / "dist"),
            str(repo_root),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (root / "dist").glob("tsr_verl-*.whl")
    venv.create(root / "venv", with_pip=False)
    py = root / "venv" / "bin" / "python"
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return py.parent


def _run(bin_dir: Path, cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    done = subprocess.run(list(args), cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_the_package_comes_from_the_wheel(installed, tmp_path):
    out = _run(
        installed,
        tmp_path,
        str(installed / "python"),
        "-c",
        "import tsr_verl.cli.jobs as j; print(j.__file__); print(j.recipes_dir())",
    )
    module, recipes = out.split()
    assert "site-packages" in module and Path(recipes) == Path(module).parents[1] / "recipes"


def _config_path(command: str) -> Path:
    flag = next(a for a in shlex.split(command) if a.startswith("--config-path="))
    return Path(flag.split("=", 1)[1])


@pytest.mark.parametrize("kind", ["quickstart", "run", "eval"])
def test_jobs_resolve_from_another_directory(installed, tmp_path, tiny_model_dir, kind):
    cli = str(installed / "tsr-verl")
    args = {
        "quickstart": [cli, "quickstart", "--dry-run", "--out", str(tmp_path / "q"), "--model", str(tiny_model_dir)],
        "run": [cli, "run", "sokoban", "grpo", "beam", "--device", "cpu", "--dry-run", "--model", str(tiny_model_dir)],
        "eval": [
            cli,
            "eval",
            "--dry-run",
            "--model",
            str(tiny_model_dir),
            "--env",
            "frozenlake",
            "--episodes",
            "2",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "e"),
        ],
    }[kind]
    command = _run(installed, tmp_path, *args).strip().splitlines()[-1]
    assert "verl.trainer.main_ppo" in command
    config = _config_path(command)
    assert "site-packages" in str(config) and (config.parent / "recipe.yaml").is_file(), config
