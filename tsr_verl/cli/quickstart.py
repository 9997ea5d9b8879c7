"""The README's main job: a short, real TSR training run on the embedded default model.

GRPO + TSR per-turn best-of-N on slippery FrozenLake with SmolLM2-135M-Instruct, on the CPU,
through the FrozenLake recipe (``recipes/frozenlake``) and stock ``verl.trainer.main_ppo``: vLLM
rollout server, the ``tsr_agent`` loop searching every turn, StarPO-S instance filtering, FSDP2
actor, weight sync. Validation runs the policy alone (``tsr_eval``, no search) before and after
training, so the printed success rates measure the policy, not the search.
veRL's console output goes to ``<out>/train.log``; the terminal shows a progress bar and a
summary; every metric is in ``<out>/metrics.jsonl`` (veRL's file logger).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from tsr_verl.cli.jobs import Job, Recipe, read_metrics

_STEP_RE = re.compile(r"\bstep:(\d+) - ")
_SCORE_RE = re.compile(r"critic/score/mean:([-+0-9.eE]+)")
_READY = "ready to fit"  # veRL's trainer logs "all initialize finished, ready to fit"
_VAL_PREFIX = "val-aux/tsr_verl/frozenlake/"
GROUPS = 4
"""Prompt groups (FrozenLake maps) per training step."""
GROUP_SIZE = 4
"""Episodes per group (GRPO group size, ``rollout.n``); each is its own TSR search."""
CANDIDATES = 2
"""M: candidate answers proposed and scored per turn (best-of-N)."""
MAX_TURNS = 3
"""Turns per episode (one or two moves each)."""
KEEP_RATIO = 0.5
"""StarPO-S (on in the recipe): train on this share of the groups, those whose returns vary most."""
STEPS = 10
"""Training steps (``--steps``)."""
LR = 1e-4
"""Actor learning rate. At 1e-5 eight steps left the policy as it was (invalid eval turns 85% ->
88%); at 5e-5 and 1e-4 it learns to answer with a move (mostly one fixed move) in 8-10 steps
(pilots in docs/results.md)."""
VAL_EPISODES = 128
"""Validation episodes (no search), played before and after training: enough for a 95% interval a
few points wide at low success rates (0 of 128: 0-3%; 16 maps gave 0-19%)."""
VAL_TEMPERATURE = 1.0
"""Validation sampling temperature: the policy as training samples it, i.e. the distribution whose
expected return GRPO improves (the recipe validates at 0.5)."""
RECIPE = "frozenlake"
"""The recipe the main job trains (its env settings: TSR's slippery 4x4 FrozenLake)."""


def _span(rows: list[dict[str, Any]]) -> str:
    first, last = rows[0]["step"], rows[-1]["step"]
    return str(first) if first == last else f"{first}-{last}"


def _val(rows: list[dict[str, Any]], key: str) -> list[float]:
    """A validation metric (``val-aux/tsr_verl/frozenlake/<key>/mean@1``) at each validation."""
    name = _VAL_PREFIX + key + "/mean@1"
    return [r["data"][name] for r in rows if name in r["data"]]


def _with_ci(rate: float) -> str:
    """A validation success rate over ``VAL_EPISODES`` maps with its 95% Wilson interval."""
    low, high = _interval(rate)
    return f"{rate:.1%} (95% CI {low:.1%}-{high:.1%})"


def _interval(rate: float) -> tuple[float, float]:
    from tsr_verl.cli.report import wilson

    return wilson(round(rate * VAL_EPISODES), VAL_EPISODES)


def _verdict(before: float, after: float) -> str:
    """Whether training changed held-out success by more than the 95% intervals: "after" counts
    as better only when its whole interval lies above "before"'s."""
    (low_b, high_b), (low_a, high_a) = _interval(before), _interval(after)
    if low_a > high_b:
        return "learned: the 95% interval after training lies above the one before"
    if high_a < low_b:
        return "got worse: the 95% interval after training lies below the one before"
    return "no significant change: the 95% intervals overlap"


def job(out_dir: Path, data_dir: Path, model_path: Path, steps: int, device: str) -> Job:
    """The job: the FrozenLake recipe (on CPU with ``recipes/cpu.yaml``'s size), then the main
    job's own size, best-of-N and StarPO-S filtering."""
    return Job(
        Recipe.load(RECIPE),
        device,
        [
            f"data.train_files={data_dir / 'train.parquet'}",
            f"data.val_files={data_dir / 'val.parquet'}",
            f"actor_rollout_ref.model.path={model_path}",
            "actor_rollout_ref.rollout.custom.tsr.strategy=best_of_n",
            f"actor_rollout_ref.rollout.custom.tsr.num_candidates={CANDIDATES}",
            f"actor_rollout_ref.rollout.custom.tsr.max_turns={MAX_TURNS}",
            "actor_rollout_ref.rollout.custom.tsr.max_tokens_per_turn=24",
            # A 135M model rarely writes the exact format at first: play its first action word
            # (the turn keeps its format penalty, so the format still pays).
            "actor_rollout_ref.rollout.custom.tsr.parse.lenient=true",
            f"data.train_batch_size={GROUPS}",
            f"actor_rollout_ref.rollout.n={GROUP_SIZE}",
            # Turn 1 is <= 293 tokens; 3 answers of <= 24 tokens and 2 observations of <= 90 fit
            # in 320. Every sequence is padded to prompt + response on CPU: these set the cost.
            "data.max_prompt_length=320",
            "data.max_response_length=320",
            "actor_rollout_ref.rollout.max_model_len=640",
            "actor_rollout_ref.actor.ppo_mini_batch_size=1",
            f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={GROUP_SIZE}",
            f"actor_rollout_ref.actor.optim.lr={LR}",
            f"actor_rollout_ref.rollout.val_kwargs.temperature={VAL_TEMPERATURE}",
            "actor_rollout_ref.model.enable_gradient_checkpointing=false",
            f"trainer.total_training_steps={steps}",
            f"trainer.test_freq={steps}",
            "trainer.val_before_train=true",
            f"data.val_max_samples={VAL_EPISODES}",
            "trainer.logger=[console,file]",
            f"trainer.default_local_dir={out_dir / 'checkpoints'}",
            "hydra.run.dir=" + str(out_dir / "hydra"),
            f"algorithm.reward_variance_filtering.top_k_ratio={KEEP_RATIO}",
        ],
    )


def write_data(data_dir: Path, steps: int, val: int = VAL_EPISODES) -> None:
    """The job's data in ``data_dir``: one epoch of exactly ``steps`` batches of ``GROUPS`` maps
    (veRL stops at the end of the data) and ``val`` held-out maps, from the recipe's env settings."""
    from tsr_verl.envs.datasets import write_splits

    recipe = Recipe.load(RECIPE)
    write_splits(data_dir, recipe.env, recipe.env_config, {"train": steps * GROUPS, "val": val}, progress=False)


def run_quickstart(
    out_dir: Path, steps: int = STEPS, device: str = "cpu", model: Path | None = None, dry_run: bool = False
) -> int:
    """Prepare model and data, train ``steps`` TSR steps, print a summary; returns the exit code.
    ``dry_run`` writes the data and prints the job's environment and command instead of training."""
    from tqdm import tqdm

    from tsr_verl.cli import launch
    from tsr_verl.integration.models import prepare_default_model

    if steps < 1:
        raise SystemExit(f"--steps must be >= 1, got {steps}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = Path(model).resolve() if model else prepare_default_model()
    data_dir = out_dir / "data"
    write_data(data_dir, steps)
    metrics_path, log_path = out_dir / "metrics.jsonl", out_dir / "train.log"
    device = launch.resolve_device(device)
    if dry_run:
        return launch.run(job(out_dir, data_dir, model_path, steps, device).hydra_args(), device, dry_run=True)
    print(
        f"[tsr_verl] quickstart: GRPO + TSR best-of-{CANDIDATES} on FrozenLake, model {model_path}, "
        f"{steps} steps x {GROUPS} maps x {GROUP_SIZE} episodes on {device}"
    )
    print(f"[tsr_verl] veRL's log: {log_path}")
    start = time.monotonic()
    bar = tqdm(total=steps, desc="starting Ray, vLLM and the actor (1-2 min)", unit="step")

    def progress(line: str) -> None:
        if _READY in line:
            bar.reset()  # ETA from training steps only, not from start-up
            bar.set_description(f"validating the initial policy ({VAL_EPISODES} episodes, no search)")
        step = _STEP_RE.search(line)
        if step:
            bar.set_description("training (TSR rollouts)")
            score = _SCORE_RE.search(line)
            bar.update(int(step.group(1)) - bar.n)
            if score:
                bar.set_postfix(reward=f"{float(score.group(1)):.3f}")

    rc = job(out_dir, data_dir, model_path, steps, device).run(out_dir, "train.log", progress)
    if rc == 2:
        bar.close()
        return 2
    bar.close()
    return _summary(rc, steps, time.monotonic() - start, metrics_path, log_path)


def _summary(rc: int, steps: int, elapsed: float, metrics_path: Path, log_path: Path) -> int:
    rows = read_metrics(metrics_path)
    train = [r for r in rows if "tsr/success" in r["data"]]
    if rc != 0 or not train:
        print(f"[tsr_verl] training failed (exit {rc}); the end of {log_path} says why")
        return rc or 1
    print(f"[tsr_verl] done in {elapsed / 60:.1f} min: {len(train)} of {steps} steps")
    success, invalid = _val(rows, "success"), _val(rows, "invalid_rate")
    if success:
        print(
            f"  eval success (policy alone, {VAL_EPISODES} maps): before {_with_ci(success[0])}   "
            f"after {_with_ci(success[-1])}"
        )
        print(f"  {_verdict(success[0], success[-1])}")
        print(f"  eval turns without a valid action:          before {invalid[0]:.1%}   after {invalid[-1]:.1%}")
    window = max(1, len(train) // 4)
    early, late = train[:window], train[-window:]

    def mean(rs: list[dict[str, Any]], key: str) -> float:
        return sum(r["data"][key] for r in rs) / len(rs)

    print(
        f"  training episodes (with search) success: steps {_span(early)} {mean(early, 'tsr/success'):.1%}   "
        f"steps {_span(late)} {mean(late, 'tsr/success'):.1%}"
    )
    print(
        f"  search cost per episode: {mean(train, 'tsr/proposals'):.1f} proposals, "
        f"{mean(train, 'tsr/tokens_kept') / max(1e-9, mean(train, 'tsr/tokens_generated')):.0%} of generated tokens kept"
    )
    print(f"  metrics: {metrics_path}\n  log:     {log_path}")
    return 0
