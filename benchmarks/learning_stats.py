"""Arms and paired statistics of ``learning_curve.py`` (no veRL, no model: pure numbers).

An **arm** is ``naive``, a TSR strategy (``beam``: independent searches, one per GRPO member) or
``<strategy>:coupled`` (one search fills each group, ``tsr.group_mode=coupled``). Every arm runs
with the same training seeds; a seed fixes the initial model, the data order and the sampling
seed, so arm − naive differences are **paired** by seed.

Pre-declared metrics, per seed, from the held-out evaluation of the policy alone:

* primary: success at the last evaluated step;
* secondary: area under the success curve, the trapezoid mean over evaluated steps (step 0
  included), i.e. the average success of the run.

Each TSR arm's difference to naive gets a 95% percentile bootstrap interval over seeds (2000
resamples of the seed-level paired differences, RNG seed 0: reproducible). With 5 seeds the
interval is coarse; it says what the seeds can and cannot rule out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

STRATEGIES = ("naive", "best_of_n", "beam", "lookahead", "trajectory_best_of_n")


def parse_arm(spec: str) -> tuple[str, str]:
    """``"beam:coupled"`` -> ``("beam", "coupled")``; ``"beam"`` -> ``("beam", "independent")``."""
    strategy, _, mode = spec.partition(":")
    mode = mode or "independent"
    if strategy not in STRATEGIES:
        raise ValueError(f"arm {spec!r}: strategy must be one of {', '.join(STRATEGIES)}")
    if mode not in ("independent", "coupled"):
        raise ValueError(f"arm {spec!r}: group mode must be 'independent' or 'coupled', got {mode!r}")
    if strategy == "naive" and mode == "coupled":
        raise ValueError(f"arm {spec!r}: naive rollouts have no search to couple")
    return strategy, mode


def auc(steps: Sequence[int], values: Sequence[float]) -> float:
    """Trapezoid mean of ``values`` over ``steps`` (the run's average success); one point: itself."""
    if len(steps) != len(values) or not steps:
        raise ValueError(f"auc needs as many values as steps (>= 1), got {len(values)} and {len(steps)}")
    if len(steps) == 1:
        return float(values[0])
    x, y = np.asarray(steps, dtype=float), np.asarray(values, dtype=float)
    return float(np.sum((y[1:] + y[:-1]) / 2 * np.diff(x)) / (x[-1] - x[0]))


def paired_ci(diffs: Sequence[float], resamples: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean of the paired differences and its 95% percentile bootstrap interval over seeds."""
    d = np.asarray(diffs, dtype=float)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    if d.size == 1:
        return float(d[0]), math.nan, math.nan
    idx = np.random.default_rng(seed).integers(0, d.size, size=(resamples, d.size))
    lo, hi = np.percentile(d[idx].mean(axis=1), [2.5, 97.5])
    return float(d.mean()), float(lo), float(hi)


def compare(curves: Mapping[str, Mapping[int, Mapping[int, float]]], baseline: str = "naive") -> dict:
    """Per arm: per-seed final success and AUC over the steps every run evaluated; per TSR arm the
    paired differences to ``baseline`` with their CIs. ``curves[arm][seed][step] = success``."""
    seeds = sorted(set.intersection(*(set(by_seed) for by_seed in curves.values())))
    if not seeds:
        raise ValueError("no training seed has a finished run in every arm")
    steps = sorted(set.intersection(*(set(curves[a][s]) for a in curves for s in seeds)))
    per_arm = {
        arm: {
            "final": {s: float(by_seed[s][steps[-1]]) for s in seeds},
            "auc": {s: auc(steps, [by_seed[s][t] for t in steps]) for s in seeds},
        }
        for arm, by_seed in curves.items()
    }
    diffs = {}
    for arm in curves:
        if arm == baseline:
            continue
        diffs[arm] = {}
        for metric in ("final", "auc"):
            d = [per_arm[arm][metric][s] - per_arm[baseline][metric][s] for s in seeds]
            mean, lo, hi = paired_ci(d)
            diffs[arm][metric] = {"per_seed": d, "mean": mean, "ci95": [lo, hi]}
    return {"seeds": seeds, "steps": steps, "per_arm": per_arm, "vs_" + baseline: diffs}


def arm_compute(train_rows: Sequence[Mapping], episodes_per_step: int) -> dict[str, float]:
    """Tokens generated over a run (``tsr/tokens_generated`` is per trained episode, so times the
    episodes of a step) and trained episodes, from veRL's per-step metric rows."""
    tokens = sum(r["data"]["tsr/tokens_generated"] * episodes_per_step for r in train_rows)
    return {"tokens_generated": float(tokens), "episodes": float(episodes_per_step * len(train_rows))}


def print_comparison(result: dict, compute: Mapping[str, Mapping[str, float]], baseline: str = "naive") -> None:
    """Per-seed table, paired CIs and compute per arm."""
    seeds, arms = result["seeds"], list(result["per_arm"])
    print(f"\nper seed: held-out success at step {result['steps'][-1]} (AUC over steps {result['steps']})")
    print(f"{'seed':>6}" + "".join(f"{a:>24}" for a in arms))
    for s in seeds:
        cells = (f"{result['per_arm'][a]['final'][s]:.1%} ({result['per_arm'][a]['auc'][s]:.1%})" for a in arms)
        print(f"{s:>6}" + "".join(f"{c:>24}" for c in cells))
    print(f"\npaired difference to {baseline}, mean [95% bootstrap CI over {len(seeds)} seeds]")
    for arm, d in result["vs_" + baseline].items():
        for metric, label in (("final", "final success"), ("auc", "AUC")):
            m, (lo, hi) = d[metric]["mean"], d[metric]["ci95"]
            print(f"  {arm:<22}{label:<15}{m:+8.1%}  [{lo:+.1%}, {hi:+.1%}]")
    print("\ncompute per arm (all seeds): tokens generated, wall minutes, tokens per point of final success")
    for arm in arms:
        c = compute[arm]
        final = np.mean(list(result["per_arm"][arm]["final"].values()))
        per_point = c["tokens_generated"] / (100 * final) if final > 0 else math.inf
        print(f"  {arm:<22}{c['tokens_generated']:>14,.0f}{c['minutes']:>9.1f} min{per_point:>14,.0f}")
