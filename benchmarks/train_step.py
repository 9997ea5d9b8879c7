"""The main job's training step, phase by phase, with CPU tuning off ("default") and on ("tuned").

Both arms run the quickstart's job (``tsr_verl/cli/quickstart.py``: same data, model, sizes and
best-of-N search; validation off so only training steps are timed) for ``--steps`` steps, one
after the other in one run. ``default`` sets ``TSR_VERL_CPU_TUNING=0`` (the CPU path as it was:
bf16 everywhere, one torch thread in the actor); ``tuned`` is what ``tsr-verl`` does now
(``tsr_verl/integration/cpu_tuning.py``). Printed per arm and phase (gen, old_log_prob, update_actor,
update_weights, the rest), averaged over the steady-state steps (all but the first):

* seconds, and cores busy (machine-wide ``/proc/stat`` sampled every 0.5 s; a phase's window is
  rebuilt from the time its step's metrics row appeared minus veRL's phase timings, in veRL's
  phase order, so it is approximate at phase edges);
* tokens per second: generated tokens for gen (``tsr/tokens_generated``), real (unpadded) tokens
  of the trained batch (``perf/total_num_tokens``) for the actor phases;
* share of the compute limit: forward 2·params·tokens (gen: generated tokens only, prefill not
  counted, so a lower bound), training 6·params·tokens, over the machine's matmul peak (the faster
  of bf16 and fp32 on a 1024^2 matmul with every core, measured here first);
* the default/tuned ratio of each phase and of the whole step.

    python benchmarks/train_step.py [--steps 3] [--arms default tuned] [--model DIR] [--out runs/train_step]

Writes ``train_step.json`` to ``--out``. Run it on a quiet machine: a second job halves everything.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

PHASES = ("gen", "reward", "old_log_prob", "ref", "values", "adv", "update_critic", "update_actor", "update_weights")
"""veRL 0.9.1's training-step phases (``timing_s/<phase>``), in the order ``ray_trainer`` runs them."""
SHOWN = ("gen", "old_log_prob", "update_actor", "update_weights")
PEAK_N = 1024
"""Matmul size for the peak (2048 takes minutes per call in bf16 on a CPU without native bf16)."""
ARMS = {"default": "0", "tuned": "1"}
"""Arm -> ``TSR_VERL_CPU_TUNING``."""


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores together."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Sampler(threading.Thread):
    """Cores busy every ``period`` seconds, and the time each new metrics row appeared."""

    def __init__(self, metrics: Path, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.metrics, self.period, self.stop = metrics, period, threading.Event()
        self.busy: list[tuple[float, float]] = []  # (time, cores busy over the last period)
        self.row_times: list[float] = []

    def run(self) -> None:
        ncores = os.cpu_count() or 1
        last_busy, last_total = cpu_times()
        while not self.stop.wait(self.period):
            busy, total = cpu_times()
            if total > last_total:
                self.busy.append((time.monotonic(), ncores * (busy - last_busy) / (total - last_total)))
            last_busy, last_total = busy, total
            self._poll_rows()
        self._poll_rows()

    def _poll_rows(self) -> None:
        rows = self.metrics.read_text().count("\n") if self.metrics.is_file() else 0
        self.row_times += [time.monotonic()] * (rows - len(self.row_times))

    def cores_between(self, start: float, end: float) -> float:
        inside = [c for t, c in self.busy if start < t <= end + self.period / 2]
        return sum(inside) / len(inside) if inside else float("nan")


def model_params(model: Path) -> int:
    """Parameter count of an HF safetensors folder (tied weights are stored, and counted, once)."""
    from math import prod

    from safetensors import safe_open

    total = 0
    for file in sorted(model.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            total += sum(prod(f.get_slice(key).get_shape()) for key in f.keys())
    return total


def run_arm(arm: str, steps: int, out: Path, model: Path, groups: int, group_size: int) -> list[dict[str, Any]]:
    """Run the quickstart job (``groups`` x ``group_size`` episodes per step) with ``arm``'s
    tuning; per-step phase records."""
    from tsr_verl.cli import launch, quickstart
    from tsr_verl.cli.jobs import Recipe, read_metrics
    from tsr_verl.envs.datasets import write_splits

    folder = out / arm
    recipe = Recipe.load(quickstart.RECIPE)
    write_splits(folder / "data", recipe.env, recipe.env_config, {"train": steps * groups, "val": 4}, progress=False)
    job = quickstart.job(folder, folder / "data", model, steps, "cpu")
    # No validation: only training steps are timed (a later override replaces the job's own value).
    size = [f"data.train_batch_size={groups}", f"actor_rollout_ref.rollout.n={group_size}"]
    size += [
        f"actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu={group_size}",
        f"actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu={group_size}",
    ]
    no_val = ["trainer.val_before_train=false", "trainer.test_freq=-1"]
    job.overrides = launch.merge_overrides(job.overrides, [*size, *no_val])
    os.environ["TSR_VERL_CPU_TUNING"] = ARMS[arm]
    sampler = Sampler(folder / "metrics.jsonl")
    sampler.start()
    started = time.monotonic()
    rc = job.run(folder, "train.log")
    sampler.stop.set()
    sampler.join()
    all_rows = read_metrics(folder / "metrics.jsonl")
    steps_seen = [(r, t) for r, t in zip(all_rows, sampler.row_times, strict=True) if "timing_s/step" in r["data"]]
    if rc != 0 or len(steps_seen) < steps:
        raise SystemExit(
            f"{arm}: the job failed (exit {rc}, {len(steps_seen)} of {steps} steps); see {folder / 'train.log'}"
        )
    records = []
    for row, end in steps_seen:
        d = row["data"]
        t = end - d["timing_s/step"]
        rec: dict[str, Any] = {"step": row["step"], "step_s": d["timing_s/step"], "wall_from_start_s": end - started}
        for phase in PHASES:
            secs = d.get(f"timing_s/{phase}", 0.0)
            rec[phase] = {"s": secs, "cores": sampler.cores_between(t, t + secs)}
            t += secs
        rec["rest"] = {"s": d["timing_s/step"] - sum(rec[p]["s"] for p in PHASES), "cores": float("nan")}
        rec["cores_step"] = sampler.cores_between(end - d["timing_s/step"], end)
        rec["gen_tokens"] = d.get("tsr/tokens_generated", float("nan")) * groups * group_size
        rec["trained_tokens"] = d.get("perf/total_num_tokens", float("nan"))
        rec["pearson"] = d.get("training/rollout_actor_probs_pearson_corr", float("nan"))
        records.append(rec)
    return records


def summarize(records: list[dict[str, Any]], params: int, peak_gflops: float) -> dict[str, Any]:
    """Steady-state means (steps after the first) per phase."""
    steady = records[1:] or records
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    out: dict[str, Any] = {
        "step_s": mean([r["step_s"] for r in steady]),
        "cores_step": mean([r["cores_step"] for r in steady]),
    }
    flops_per_token = {"gen": 2 * params, "old_log_prob": 2 * params, "update_actor": 6 * params}
    tokens_of = {"gen": "gen_tokens", "old_log_prob": "trained_tokens", "update_actor": "trained_tokens"}
    for phase in (*SHOWN, "rest"):
        if phase == "rest":
            secs = mean([r["step_s"] - sum(r[p]["s"] for p in SHOWN) for r in steady])
            cores = float("nan")
        else:
            secs, cores = mean([r[phase]["s"] for r in steady]), mean([r[phase]["cores"] for r in steady])
        entry = {"s": secs, "cores": cores, "tok_per_s": float("nan"), "limit_share": float("nan")}
        if phase in tokens_of and secs > 0:
            tokens = mean([r[tokens_of[phase]] for r in steady])
            entry["tok_per_s"] = tokens / secs
            entry["limit_share"] = flops_per_token[phase] * tokens / secs / (peak_gflops * 1e9)
        out[phase] = entry
    out["pearson_min"] = min(r["pearson"] for r in records)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--steps", type=int, default=3, help="training steps per arm (the first is warm-up)")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--out", type=Path, default=Path("runs/train_step"), help="where logs and JSON go")
    parser.add_argument("--groups", type=int, default=None, help="prompt groups per step (default: the quickstart's)")
    parser.add_argument("--group-size", type=int, default=None, help="episodes per group (default: the quickstart's)")
    parser.add_argument(
        "--model", type=Path, default=None, help="HF model folder (default: the embedded SmolLM2-135M-Instruct)"
    )
    args = parser.parse_args()
    if args.steps < 2:
        parser.error("--steps must be >= 2 (the first step is warm-up)")
    from tsr_verl.cli import quickstart
    from tsr_verl.integration import cpu_tuning
    from tsr_verl.integration.models import prepare_default_model
    from tsr_verl.io import write_json

    out = args.out.resolve()
    groups, group_size = args.groups or quickstart.GROUPS, args.group_size or quickstart.GROUP_SIZE
    peaks = {d: cpu_tuning.matmul_gflops(d, n=PEAK_N, seconds=2.0) for d in cpu_tuning.DTYPES}
    peak = max(peaks.values())
    model = args.model.resolve() if args.model else prepare_default_model()
    params = model_params(model)
    print(
        f"matmul peak ({PEAK_N}^2, {cpu_tuning.cores()} threads): "
        + ", ".join(f"{d} {g:.1f} GFLOP/s" for d, g in peaks.items())
    )
    print(
        f"model {model.name}: {params / 1e6:.1f}M parameters; tuned dtype here: {cpu_tuning.compute_dtype()}",
        flush=True,
    )
    results: dict[str, Any] = {
        "peaks_gflops": peaks,
        "params": params,
        "model": str(model),
        "steps": args.steps,
        "groups": groups,
        "group_size": group_size,
        "date": time.strftime("%Y-%m-%d"),
        "arms": {},
    }
    for arm in args.arms:
        start = time.monotonic()
        records = run_arm(arm, args.steps, out, model, groups, group_size)
        results["arms"][arm] = {
            "records": records,
            "summary": summarize(records, params, peak),
            "wall_s": time.monotonic() - start,
        }
        write_json(results, out / "train_step.json")
        print(f"{arm}: {args.steps} steps in {results['arms'][arm]['wall_s']:.0f} s (start-up included)", flush=True)
    print_table(results)
    return 0


def print_table(results: dict[str, Any]) -> None:
    arms = results["arms"]
    print(
        f"\nsteady-state step (mean of steps 2..{results['steps']}), limit = {max(results['peaks_gflops'].values()):.1f} GFLOP/s"
    )
    print(
        f"{'phase':<15}"
        + "".join(f"{a + ' s':>12}{'cores':>7}{'tok/s':>9}{'limit':>7}" for a in arms)
        + ("    default/tuned" if len(arms) == 2 else "")
    )
    for phase in (*SHOWN, "rest", "step"):
        line = f"{phase:<15}"
        for arm in arms.values():
            e = (
                arm["summary"][phase]
                if phase != "step"
                else {"s": arm["summary"]["step_s"], "cores": arm["summary"]["cores_step"]}
            )
            line += f"{e['s']:>12.1f}{e['cores']:>7.2f}{e.get('tok_per_s', float('nan')):>9.0f}{e.get('limit_share', float('nan')):>7.1%}"
        if set(arms) == set(ARMS):
            d, t = (arms[a]["summary"] for a in ("default", "tuned"))
            ds, ts = (d["step_s"], t["step_s"]) if phase == "step" else (d[phase]["s"], t[phase]["s"])
            line += f"    {ds / ts:.2f}x" if ts > 0 else ""
        print(line)
    for name, arm in arms.items():
        print(f"{name}: rollout/actor probability Pearson (min over steps) {arm['summary']['pearson_min']:.4f}")


if __name__ == "__main__":
    sys.exit(main())
