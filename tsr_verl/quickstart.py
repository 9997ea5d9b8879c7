"""The README's main job: a short, real veRL training run on the embedded default model.

Today (before the TSR agent loop lands) this is the smoke recipe: GRPO on a trivial single-turn
task (``tsr_verl/smoke_task.py``) with SmolLM2-135M-Instruct, through stock
``verl.trainer.main_ppo`` -- vLLM rollout server, FSDP2 actor, weight sync -- on the CPU.
veRL's own console output goes to ``<out>/train.log``; the terminal shows a progress bar and a
summary, and every metric is in ``<out>/metrics.jsonl`` (veRL's file logger).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

RECIPE_DIR = Path(__file__).resolve().parent.parent / "recipes" / "smoke" / "config"
_STEP_RE = re.compile(r"\bstep:(\d+) - ")
_SCORE_RE = re.compile(r"critic/score/mean:([-+0-9.eE]+)")
_READY = "ready to fit"  # veRL's trainer logs "all initialize finished, ready to fit"
#: Prompts per training step (each sampled rollout.n = 4 times by the smoke recipe).
BATCH_PROMPTS = 8


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Rows ``{"step": int, "data": {metric: value}}`` written by veRL's file logger."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean_score(rows: list[dict[str, Any]]) -> float:
    return sum(r["data"]["critic/score/mean"] for r in rows) / len(rows)


def _span(rows: list[dict[str, Any]]) -> str:
    first, last = rows[0]["step"], rows[-1]["step"]
    return str(first) if first == last else f"{first}-{last}"


def run_quickstart(out_dir: Path, steps: int = 16, device: str = "cpu", model: Path | None = None) -> int:
    """Prepare model and data, train ``steps`` GRPO steps, print a summary; returns the exit code."""
    from tqdm import tqdm

    from tsr_verl import launch
    from tsr_verl.models import prepare_default_model
    from tsr_verl.smoke_task import prepare_data
    from tsr_verl.supervise import supervised

    if steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {steps}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = Path(model).resolve() if model else prepare_default_model()
    # One epoch of exactly `steps` batches: veRL stops at the end of the data (total_epochs=1).
    train, val = prepare_data(out_dir / "data", n_train=steps * BATCH_PROMPTS)
    metrics_path, log_path = out_dir / "metrics.jsonl", out_dir / "train.log"
    metrics_path.unlink(missing_ok=True)
    hydra_args = [
        f"--config-path={RECIPE_DIR}",
        "--config-name=smoke_grpo",
        f"data.train_files={train}",
        f"data.val_files={val}",
        f"actor_rollout_ref.model.path={model_path}",
        f"trainer.total_training_steps={steps}",
        f"data.train_batch_size={BATCH_PROMPTS}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={BATCH_PROMPTS}",
        "actor_rollout_ref.actor.optim.lr=1e-5",
        "trainer.logger=[console,file]",
        f"trainer.default_local_dir={out_dir / 'checkpoints'}",
        "hydra.run.dir=" + str(out_dir / "hydra"),
    ]
    device = launch.resolve_device(device)
    cmd, env = launch.build_command(hydra_args, device)
    env["VERL_FILE_LOGGER_PATH"] = str(metrics_path)
    if device == "cpu":
        launch.check_cpu_stack()
    print(f"[tsr_verl] quickstart: GRPO smoke task, model {model_path}, {steps} steps on {device}")
    print(f"[tsr_verl] veRL's log: {log_path}")
    start = time.monotonic()
    bar = tqdm(total=steps, desc="starting Ray, vLLM and the actor (1-2 min)", unit="step")
    with (
        open(log_path, "w") as log,
        supervised(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=out_dir) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            if _READY in line:
                bar.reset()  # ETA from training steps only, not from start-up
                bar.set_description("training (the first step warms vLLM up)")
            step = _STEP_RE.search(line)
            if step:
                bar.set_description("training")
                score = _SCORE_RE.search(line)
                bar.update(int(step.group(1)) - bar.n)
                if score:
                    bar.set_postfix(reward=f"{float(score.group(1)):.3f}")
        rc = proc.wait()
    bar.close()
    elapsed = time.monotonic() - start
    rows = read_metrics(metrics_path)
    if rc != 0 or not rows:
        print(f"[tsr_verl] training failed (exit {rc}); the end of {log_path} says why")
        return rc or 1
    window = max(1, len(rows) // 4)
    early, late = rows[:window], rows[-window:]
    print(f"[tsr_verl] done in {elapsed / 60:.1f} min: {len(rows)} of {steps} steps")
    print(
        f"  reward mean, steps {_span(early)}: {_mean_score(early):.3f}   steps {_span(late)}: {_mean_score(late):.3f}"
    )
    corr = rows[-1]["data"]["training/rollout_actor_probs_pearson_corr"]
    print(f"  rollout/actor prob. correlation (weight sync): {corr:.4f}")
    print(f"  metrics: {metrics_path}\n  log:     {log_path}")
    return 0
