"""The veRL arguments of one learning-curve run (``learning_curve.py``): which arm, which seed,
which evaluation, and on CPU the sizes a 2-core machine trains in minutes.

Kept apart from the driver so the arms' arguments can be checked without running anything: the
arms of a seed must differ only in ``custom.tsr.strategy`` / ``group_mode`` (and in who validates
the shared initial model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

try:  # run as a script (benchmarks/ on sys.path) or imported by the tests
    from learning_stats import parse_arm
except ImportError:  # pragma: no cover
    from benchmarks.learning_stats import parse_arm


def cpu_sizes(
    groups: int,
    group_size: int,
    keep_ratio: float,
    lr: float,
    max_turns: int = 5,
    coords: bool = False,
    adam_eps: float = 1e-8,
) -> list[str]:
    """A size the 2-core CPU trains in minutes: one optimizer update per step on the groups the
    instance filter keeps. ``coords``: observations carry a coordinates line (~27 more tokens)."""
    kept = max(1, int(groups * keep_ratio)) * group_size
    # Turn 1 is ~255 tokens (~282 with coordinates); every later turn adds <= 24 answer tokens and
    # an observation of <= 90 tokens (<= 118 with coordinates). veRL pads every sequence to prompt +
    # response length on CPU (no remove-padding), so these numbers set the actor update's cost.
    prompt = 320 if coords else 288
    response = -(-(max_turns * 24 + (max_turns - 1) * (118 if coords else 90)) // 64) * 64
    return [
        f"data.train_batch_size={groups}",
        f"actor_rollout_ref.rollout.n={group_size}",
        f"data.max_prompt_length={prompt}",
        f"data.max_response_length={response}",
        f"actor_rollout_ref.rollout.max_model_len={prompt + response}",
        "actor_rollout_ref.rollout.custom.tsr.max_tokens_per_turn=24",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={kept // group_size}",
        # Micro batches of one group bound the [batch, length, vocab] logits in memory.
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={group_size}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={group_size}",
        "actor_rollout_ref.model.enable_gradient_checkpointing=false",
        f"actor_rollout_ref.actor.optim.lr={lr}",
        # Adam divides by sqrt(v) + eps. At eps=1e-8 one update at lr 1e-3 flattened the policy
        # (entropy 0.04 -> 7.6; eps=1e-5: stable for 3 updates, pilots in docs/results.md). Our
        # reading: tiny, same-signed gradients (softmax normalisation on every unused vocabulary
        # row) get full-size steps; a larger eps damps them and leaves real gradients alone.
        f"actor_rollout_ref.actor.optim.override_optimizer_config={{eps:{adam_eps:g}}}",
    ]


def _arm_seed_schedule(ns: argparse.Namespace, arm: str, seed: int) -> list[str]:
    """What differs between the runs of one experiment: the arm's strategy and group mode, the
    seed of data order and sampling, the schedule, the evaluation, and who validates step 0."""
    strategy, group_mode = parse_arm(arm)
    return [
        f"actor_rollout_ref.rollout.custom.tsr.strategy={strategy}",
        f"actor_rollout_ref.rollout.custom.tsr.group_mode={group_mode}",
        f"actor_rollout_ref.rollout.val_kwargs.n={ns.val_samples}",
        f"actor_rollout_ref.rollout.val_kwargs.do_sample={'true' if ns.val_temperature > 0 else 'false'}",
        f"actor_rollout_ref.rollout.val_kwargs.temperature={ns.val_temperature}",
        f"actor_rollout_ref.rollout.top_k={ns.top_k}",
        f"actor_rollout_ref.rollout.val_kwargs.top_k={ns.top_k}",
        f"data.seed={seed}",
        f"actor_rollout_ref.rollout.seed={seed}",
        f"trainer.total_training_steps={ns.steps}",
        f"trainer.test_freq={ns.eval_every}",
        # The arms of a seed share the initial model: only the first arm validates it (step 0).
        f"trainer.val_before_train={'true' if arm == ns.arms[0] else 'false'}",
    ]


def main_job_args(ns: argparse.Namespace, data: Path, model: Path, arm: str, seed: int, run_dir: Path) -> list[str]:
    """``--setting main``: the quickstart's job (``tsr_verl.cli.quickstart.job``: SmolLM2-135M,
    slippery FrozenLake, its sizes, lr, best-of-2 and filter) for ``arm`` under ``seed``; only
    :func:`_arm_seed_schedule` and the number of validation episodes change."""
    from tsr_verl.cli import launch, quickstart

    base = quickstart.job(run_dir, data, model, ns.steps, ns.device).overrides
    return launch.merge_overrides(base, [*_arm_seed_schedule(ns, arm, seed), f"data.val_max_samples={ns.val}"])


def job_args(ns: argparse.Namespace, data: Path, model: Path, arm: str, seed: int, run_dir: Path) -> list[str]:
    """Hydra overrides of the FrozenLake recipe for ``arm`` under ``seed``: data and model, the
    arm's strategy and group mode, the evaluation (samples, temperature, top-k), the seed of data
    order and sampling, the schedule, and on CPU :func:`cpu_sizes`."""
    if ns.setting == "main":
        return main_job_args(ns, data, model, arm, seed, run_dir)
    args = [
        f"data.train_files={data / 'train.parquet'}",
        f"data.val_files={data / 'val.parquet'}",
        f"actor_rollout_ref.model.path={model}",
        *_arm_seed_schedule(ns, arm, seed),
        f"actor_rollout_ref.rollout.custom.tsr.max_turns={ns.max_turns}",
        f"actor_rollout_ref.rollout.custom.tsr.max_actions={ns.max_turns}",
        "actor_rollout_ref.rollout.custom.tsr.parse.max_actions_per_turn=1",
        "trainer.save_freq=-1",
        "trainer.logger=[console,file]",
        f"trainer.default_local_dir={run_dir / 'checkpoints'}",
        f"hydra.run.dir={run_dir / 'hydra'}",
        f"algorithm.reward_variance_filtering.top_k_ratio={ns.keep_ratio}",
    ]
    if ns.device == "cpu":
        args += cpu_sizes(
            ns.groups, ns.group_size, ns.keep_ratio, ns.lr, ns.max_turns, ns.observation == "grid_coord", ns.adam_eps
        )
    return args
