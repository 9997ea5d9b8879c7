"""``tsr-verl eval``: measure a model (HF folder or veRL checkpoint) on held-out episodes.

The run is a stock veRL validation pass: the environment's recipe YAML through
:mod:`tsr_verl.cli.launch` with ``trainer.val_only=true``, so held-out episodes are played like training's
validation episodes (same loop, prompts and budgets). ``naive`` rows use ``tsr_eval`` (the policy
alone); any other strategy uses ``tsr_agent`` with that search, so inference-time search is
reported as its own number. veRL's per-sample dump (``trainer.validation_data_dir``) gives the
per-episode outcomes that :mod:`tsr_verl.cli.report` turns into rates, pass@k and 95% CIs.

The recipe settings are read, not copied: the job is a ``tsr_verl.cli.jobs.Job`` of the env's
recipe (its YAML, ``recipes/cpu.yaml``'s CPU size, its ``recipe.yaml`` env settings).
"""

from __future__ import annotations

import datetime
import json
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tsr_verl.cli.checkpoints import classify_model, convert_checkpoint
from tsr_verl.cli.jobs import Job, Recipe
from tsr_verl.search.config import STRATEGIES

ENVS = ("frozenlake", "sokoban", "webshop")


def write_test_split(
    data_dir: Path, env: str, config: Mapping[str, Any], episodes: int, seed_start: int | None, strategy: str
) -> Path:
    """``<data_dir>/test.parquet``: ``episodes`` seeds from ``seed_start`` (None: the test split's
    default start, the env's own for envs with fixed splits such as WebShop), one row each."""
    from tsr_verl.envs.datasets import write_splits

    agent = "tsr_eval" if strategy == "naive" else "tsr_agent"
    starts = {} if seed_start is None else {"test": seed_start}
    paths = write_splits(data_dir, env, config, {"test": episodes}, starts, progress=False, agents={"test": agent})
    return paths["test"]


def eval_job(ns: Any, out: Path, model: Path, data: Path, device: str) -> Job:
    """The evaluation job: the env's recipe, its CPU size (minus the validation cap), then the
    evaluation's overrides (user ``--tsr`` values last)."""
    tsr = "actor_rollout_ref.rollout.custom.tsr."
    greedy = ns.mode == "greedy"
    args = [
        f"data.train_files={data}",
        f"data.val_files={data}",
        f"actor_rollout_ref.model.path={model}",
        f"{tsr}strategy={ns.strategy}",
        "trainer.val_only=true",
        "trainer.val_before_train=true",
        f"actor_rollout_ref.rollout.val_kwargs.n={ns.k}",
        f"actor_rollout_ref.rollout.val_kwargs.do_sample={'false' if greedy else 'true'}",
        f"actor_rollout_ref.rollout.val_kwargs.temperature={0 if greedy else ns.temperature}",
        f"trainer.validation_data_dir={out / 'generations'}",
        "trainer.logger=[console,file]",
        f"trainer.default_local_dir={out / 'checkpoints'}",
        f"hydra.run.dir={out / 'hydra'}",
        *(f"{tsr}{item}" for item in ns.tsr),
    ]
    return Job(Recipe.load(ns.env), device, args, for_eval=True)


def eval_command(ns: Any) -> str:
    """The ``tsr-verl eval`` command line that reproduces this run (all flags explicit)."""
    parts = [
        "tsr-verl",
        "eval",
        "--model",
        str(ns.model),
        "--env",
        ns.env,
        "--episodes",
        str(ns.episodes),
        *(["--seed-start", str(ns.seed_start)] if ns.seed_start is not None else []),
        "--mode",
        ns.mode,
        "--temperature",
        str(ns.temperature),
        "--k",
        str(ns.k),
        "--strategy",
        ns.strategy,
        "--device",
        ns.device,
        "--out",
        str(ns.out),
    ]
    parts += [a for key, value in ns.set for a in ("--set", f"{key}={json.dumps(value)}")]
    parts += [a for item in ns.tsr for a in ("--tsr", item)]
    return shlex.join(parts)


def check_inputs(ns: Any) -> dict[str, Any]:
    """Validate everything cheap before any conversion or launch; return the env config."""
    from tsr_verl.envs import make

    if ns.env not in ENVS:
        raise ValueError(f"--env {ns.env!r}: unknown environment (expected one of: {', '.join(ENVS)})")
    if ns.episodes < 1 or ns.k < 1 or (ns.seed_start is not None and ns.seed_start < 0):
        raise ValueError("--episodes and --k must be >= 1 and --seed-start >= 0")
    if ns.mode == "sampled" and ns.temperature <= 0:
        raise ValueError("--mode sampled needs --temperature > 0 (use --mode greedy for greedy decoding)")
    for item in ns.tsr:
        if "=" not in item or not item.split("=", 1)[0]:
            raise ValueError(f"--tsr expects KEY=VALUE, got {item!r}")
    classify_model(ns.model)
    config = {**Recipe.load(ns.env).env_config, **dict(ns.set)}
    try:
        make(ns.env, **config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--set: bad {ns.env} config {config}: {exc}") from exc
    return config


def run_eval(ns: Any) -> int:
    """The whole evaluation; returns the exit code (2 = bad input, nothing launched)."""
    from tqdm import tqdm

    from tsr_verl.cli import launch
    from tsr_verl.cli import report as eval_report
    from tsr_verl.io import write_json

    try:
        config = check_inputs(ns)
    except ValueError as exc:
        print(f"tsr-verl eval: error: {exc}", file=sys.stderr)
        return 2
    if ns.mode == "greedy" and ns.k > 1:
        print(f"[tsr_verl] note: greedy decoding plays each seed {ns.k} times identically; see --mode sampled")
    out = Path(ns.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    device = launch.resolve_device(ns.device)
    stages = [
        "preparing the model",
        "writing episodes",
        "starting Ray, vLLM and the actor",
        "playing episodes",
        "statistics",
    ]
    print(
        f"[tsr_verl] eval on {ns.env}: {ns.strategy}, {ns.mode}, {ns.episodes} seeds x k={ns.k}; log {out / 'eval.log'}"
    )
    if ns.dry_run:  # the job as it would run on an HF folder (a checkpoint is converted first)
        data = write_test_split(out / "data", ns.env, config, ns.episodes, ns.seed_start, ns.strategy)
        job = eval_job(ns, out, classify_model(ns.model)[1].resolve(), data, device)
        return launch.run(job.hydra_args(), device, dry_run=True)
    bar = tqdm(total=len(stages), desc=stages[0], bar_format="{desc}: {bar} {n}/{total} [{elapsed}]")
    start = time.monotonic()
    with open(out / "eval.log", "w") as log:
        kind, path = classify_model(ns.model)
        try:
            model = convert_checkpoint(path, out / "model", log) if kind == "checkpoint" else Path(ns.model).resolve()
        except RuntimeError as exc:
            bar.close()
            print(f"tsr-verl eval: error: {exc}", file=sys.stderr)
            return 1
        bar.update(1), bar.set_description_str(stages[1])
        data = write_test_split(out / "data", ns.env, config, ns.episodes, ns.seed_start, ns.strategy)
        for stale in (out / "generations").glob("*.jsonl"):  # from an earlier run here
            stale.unlink()
        bar.update(1), bar.set_description_str(stages[2])

    def progress(line: str) -> None:
        for marker, stage in (("ready to fit", 3), ("Initial validation metrics", 4)):
            if marker in line and bar.n < stage:
                bar.update(stage - bar.n), bar.set_description_str(stages[stage])

    job = eval_job(ns, out, model, data, device)
    cmd = job.command()[0]
    rc = job.run(out, "eval.log", progress, append=True)
    if rc == 2:
        bar.close()
        return 2
    bar.update(len(stages) - bar.n), bar.close()
    dumps = sorted((out / "generations").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    if rc != 0 or not dumps:
        print(f"tsr-verl eval: the veRL job failed (exit {rc}); see the end of {out / 'eval.log'}", file=sys.stderr)
        return rc or 1
    summary = eval_report.summarize(eval_report.group_episodes(eval_report.load_dump(dumps[-1])), ns.k)
    report = {
        "summary": summary,
        "env": ns.env,
        "env_config": config,
        "recipe": str(Recipe.load(ns.env).folder),
        "episodes_requested": ns.episodes,
        "seed_start": ns.seed_start,
        "mode": ns.mode,
        "temperature": 0.0 if ns.mode == "greedy" else ns.temperature,
        "k": ns.k,
        "strategy": ns.strategy,
        "tsr_overrides": list(ns.tsr),
        "device": device,
        "model": {"given": str(Path(ns.model).resolve()), "kind": kind, "hf_folder": str(model)},
        "eval_command": eval_command(ns),
        "command": cmd,
        "dump": str(dumps[-1]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "wall_s": round(time.monotonic() - start, 1),
    }
    write_json(report, out / "eval.json")
    print(f"[tsr_verl] eval of {model} on {ns.env} ({ns.strategy}, {ns.mode}, k={ns.k}):")
    print(eval_report.table(summary))
    print(f"[tsr_verl] {out / 'eval.json'}")
    return 0


def add_arguments(parser: Any, key_value: Any) -> None:
    """The ``tsr-verl eval`` flags (``key_value`` parses ``--set``)."""
    from tsr_verl.envs.datasets import DEFAULT_SEED_STARTS

    parser.add_argument("--model", type=Path, required=True, help="HF model folder or veRL global_step_N(/actor)")
    parser.add_argument("--env", required=True, help=f"environment: {' | '.join(ENVS)}")
    parser.add_argument(
        "--set",
        type=key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="env config field over the recipe's (JSON value if possible), repeatable",
    )
    parser.add_argument("--episodes", type=int, default=256, help="held-out seeds (episodes per sample)")
    parser.add_argument(
        "--seed-start",
        type=int,
        default=None,
        help=f"first seed (default: the test split's, {DEFAULT_SEED_STARTS['test']}, or the env's "
        "fixed test split, e.g. WebShop's goals 0-499)",
    )
    parser.add_argument("--mode", choices=("greedy", "sampled"), default="greedy", help="decoding at evaluation")
    parser.add_argument("--temperature", type=float, default=0.5, help="sampling temperature (--mode sampled)")
    parser.add_argument("--k", type=int, default=1, help="samples per seed (pass@k)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="naive", help="inference-time search (naive: none)")
    parser.add_argument(
        "--tsr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="actor_rollout_ref.rollout.custom.tsr.KEY=VALUE (Hydra syntax), repeatable",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto", help="where to run")
    parser.add_argument("--out", type=Path, default=Path("runs/eval"), help="output folder")
    parser.add_argument(
        "--dry-run", action="store_true", help="write the episodes, print the job's command, run nothing"
    )
