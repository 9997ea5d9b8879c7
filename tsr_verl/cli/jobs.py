"""One job runner: recipe + CPU size + overrides -> a supervised veRL ``main_ppo`` run.

Every job of the project goes through here: ``recipes/<env>/run.sh`` (``tsr-verl run``), the
quickstart, ``tsr-verl eval``, the learning-curve benchmark and the slow end-to-end tests. The
settings are data, read by all of them:

* ``recipes/<env>/recipe.yaml``: the Hydra config name, the env settings, the dataset sizes and
  prompt budgets (what ``prepare_data.sh`` writes), and the recipe's changes to the CPU size;
* ``recipes/cpu.yaml``: the small size every recipe gets with ``--device cpu``.

Recipes are found in the source tree (``<repo>/recipes``) or, from an installed wheel, in the
package data (``tsr_verl/recipes``); ``$TSR_VERL_RECIPES`` overrides both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tsr_verl.cli import launch
from tsr_verl.search.config import STRATEGIES

ALGORITHMS = {"grpo": "grpo", "ppo": "gae"}
"""``ALGO`` of ``run.sh`` -> ``algorithm.adv_estimator`` (ppo adds veRL's critic)."""
RECIPE_KEYS = ("config_name", "env", "env_config", "data", "cpu_overrides")
DATA_KEYS = ("train", "val", "test", "max_actions", "max_actions_per_turn", "action_sep")


def recipes_dir() -> Path:
    """The folder holding ``cpu.yaml`` and one folder per recipe."""
    if os.environ.get("TSR_VERL_RECIPES"):
        return Path(os.environ["TSR_VERL_RECIPES"]).resolve()
    here = Path(__file__).resolve()
    for candidate in (here.parents[1] / "recipes", here.parents[2] / "recipes"):  # wheel, then source tree
        if (candidate / "cpu.yaml").is_file():
            return candidate
    raise FileNotFoundError("no recipes folder found (set TSR_VERL_RECIPES=/path/to/recipes)")


def _yaml(path: Path) -> dict[str, Any]:
    import yaml

    data = yaml.safe_load(path.read_text()) if path.is_file() else None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping")
    return data


def available() -> list[str]:
    return sorted(p.parent.name for p in recipes_dir().glob("*/recipe.yaml"))


@dataclass(frozen=True)
class Recipe:
    """One ``recipes/<name>/recipe.yaml`` (see the module docstring)."""

    name: str
    """Folder name (``frozenlake``)."""
    folder: Path
    """``recipes/<name>``."""
    config_name: str
    """Hydra config in ``<folder>/config`` (``tsr_frozenlake``)."""
    env: str
    """Registered environment name."""
    env_config: dict[str, Any] = field(default_factory=dict)
    """Env settings written into every dataset row."""
    data: dict[str, Any] = field(default_factory=dict)
    """Dataset sizes and prompt budgets for ``make-data`` (keys: ``DATA_KEYS``)."""
    cpu_overrides: tuple[str, ...] = ()
    """Hydra overrides applied after ``cpu.yaml``'s size with ``--device cpu``."""

    @classmethod
    def load(cls, name: str) -> Recipe:
        folder = recipes_dir() / name
        if not (folder / "recipe.yaml").is_file():
            raise ValueError(f"unknown recipe {name!r}; available: {', '.join(available())}")
        raw = _yaml(folder / "recipe.yaml")
        unknown = sorted(set(raw) - set(RECIPE_KEYS))
        bad_data = sorted(set(raw.get("data") or {}) - set(DATA_KEYS))
        if unknown or bad_data:
            raise ValueError(
                f"{folder / 'recipe.yaml'}: unknown key(s) {unknown + bad_data}; "
                f"valid: {list(RECIPE_KEYS)}, data: {list(DATA_KEYS)}"
            )
        return cls(
            name,
            folder,
            str(raw["config_name"]),
            str(raw["env"]),
            dict(raw.get("env_config") or {}),
            dict(raw.get("data") or {}),
            tuple(raw.get("cpu_overrides") or ()),
        )

    @property
    def config_dir(self) -> Path:
        return self.folder / "config"


def cpu_size(*, for_eval: bool = False) -> list[str]:
    """``cpu.yaml``'s overrides (minus its ``eval_drops`` keys when ``for_eval``)."""
    raw = _yaml(recipes_dir() / "cpu.yaml")
    drops = set(raw.get("eval_drops") or ()) if for_eval else set()
    return [o for o in raw.get("overrides") or () if launch.override_key(o) not in drops]


@dataclass
class Job:
    """A ``main_ppo`` run of ``recipe``: its YAML, the CPU size on ``cpu``, then ``overrides``."""

    recipe: Recipe
    device: str = "cpu"
    """``cpu`` or ``gpu`` (``auto`` is resolved by the caller with ``launch.resolve_device``)."""
    overrides: list[str] = field(default_factory=list)
    """Hydra overrides, last (they win over the CPU size)."""
    for_eval: bool = False
    """Leave ``cpu.yaml``'s ``eval_drops`` out of the CPU size."""

    def hydra_args(self) -> list[str]:
        """Config path and name, the CPU size (on ``cpu``; keys the overrides set are left out),
        then the overrides."""
        size = []
        if self.device == "cpu":  # a recipe's cpu_overrides replace cpu.yaml's values of the same keys
            size = launch.merge_overrides(cpu_size(for_eval=self.for_eval), self.recipe.cpu_overrides)
        config = [f"--config-path={self.recipe.config_dir}", f"--config-name={self.recipe.config_name}"]
        return launch.merge_overrides(size, [*config, *self.overrides])

    def command(self) -> tuple[list[str], dict[str, str]]:
        """The command line and environment (the CPU launcher's additions on ``cpu``)."""
        return launch.build_command(self.hydra_args(), self.device)

    def run(
        self,
        out_dir: Path,
        log_name: str = "train.log",
        on_line: Callable[[str], None] | None = None,
        append: bool = False,
    ) -> int:
        """Preflight, then run supervised in ``out_dir``: veRL's output to ``out_dir/log_name``
        (appended to with ``append``), its metrics to ``out_dir/metrics.jsonl``, every line to
        ``on_line``. Returns the exit code (2: preflight refused the job, nothing launched)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        cmd, env = self.command()
        problem = launch.preflight(cmd)
        if problem:
            print(f"[tsr_verl] not launching: {problem}", file=sys.stderr)
            return 2
        if self.device == "cpu":
            launch.check_cpu_stack()
        metrics = out_dir / "metrics.jsonl"
        metrics.unlink(missing_ok=True)
        env["VERL_FILE_LOGGER_PATH"] = str(metrics)
        with open(out_dir / log_name, "a" if append else "w") as log:
            print(f"[tsr_verl] {' '.join(cmd)}", file=log, flush=True)
            return launch.stream(cmd, env, log, out_dir, on_line or (lambda line: None))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows ``{"step": int, "data": {metric: value}}`` written by veRL's file logger."""
    import json

    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# --- `tsr-verl run` and `tsr-verl make-data --recipe` (what the recipes' shell scripts call) ---------
def recipe_job(
    name: str, algo: str, strategy: str, device: str, model: str | None, data_dir: Path, overrides: Sequence[str] = ()
) -> Job:
    """The job of ``recipes/<name>/run.sh ALGO STRATEGY``: the two choices are one override each,
    then the data, the model (if given) and the user's overrides. ``ValueError`` names a bad choice."""
    recipe = Recipe.load(name)
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown ALGO {algo!r} (expected one of: {', '.join(ALGORITHMS)})")
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown STRATEGY {strategy!r} (expected one of: {', '.join(STRATEGIES)})")
    args = [
        f"algorithm.adv_estimator={ALGORITHMS[algo]}",
        f"actor_rollout_ref.rollout.custom.tsr.strategy={strategy}",
        f"data.train_files={data_dir / 'train.parquet'}",
        f"data.val_files={data_dir / 'val.parquet'}",
        *([f"actor_rollout_ref.model.path={model}"] if model else []),
        *overrides,
    ]
    return Job(recipe, device, args)


def run_recipe(
    name: str,
    algo: str,
    strategy: str,
    device: str,
    dry_run: bool,
    model: str | None,
    data: str | None,
    overrides: Sequence[str],
) -> int:
    """``tsr-verl run`` (what ``recipes/<name>/run.sh`` calls); returns the exit code."""
    data_dir = Path(data or os.environ.get("DATA") or Path("data") / name).resolve()
    device = launch.resolve_device(device)
    try:
        job = recipe_job(name, algo, strategy, device, None, data_dir, overrides)
    except ValueError as exc:
        print(f"tsr-verl run: error: {exc}", file=sys.stderr)
        return 2
    user_data = any(launch.override_key(o) == "data.train_files" for o in overrides)
    if not dry_run and not user_data and not (data_dir / "train.parquet").is_file():
        print(
            f"tsr-verl run: error: no {data_dir / 'train.parquet'}: run {job.recipe.folder / 'prepare_data.sh'} "
            "first (or pass --data DIR)",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download at run time
    model = model or os.environ.get("MODEL")
    if model is None and device == "cpu":
        from tsr_verl.integration.models import prepare_default_model

        model = str(prepare_default_model())
    job = recipe_job(name, algo, strategy, device, model, data_dir, overrides)
    return launch.run(job.hydra_args(), device=device, dry_run=dry_run)


def make_data_args(recipe: Recipe) -> list[str]:
    """``tsr-verl make-data`` arguments that write ``recipe``'s datasets (user arguments go after)."""
    import json

    d = recipe.data
    args = [recipe.env]
    for key, value in recipe.env_config.items():
        args += ["--set", f"{key}={json.dumps(value) if not isinstance(value, str) else value}"]
    for key in DATA_KEYS:
        if key in d:
            args += [f"--{key.replace('_', '-')}", str(d[key])]
    return args
