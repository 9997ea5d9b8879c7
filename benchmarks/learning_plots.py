"""The plots of ``learning_curve.py``: held-out success per step (mean and min-max band over
seeds, one line per arm) and the per-step TSR metrics of one TSR run."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot(summary: dict, results: dict, tsr_arm: str, out: Path) -> None:
    """Write ``learning_curve.png`` (``summary``: per arm steps, mean, min, max) and
    ``tsr_metrics.png`` (the per-step rows of ``tsr_arm``'s first seed in ``results``) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm, s in summary.items():
        (line,) = ax.plot(
            s["steps"], np.array(s["mean"]) * 100, marker="o", label=f"{arm} (mean of {len(s['per_seed'])} seeds)"
        )
        ax.fill_between(
            s["steps"], np.array(s["min"]) * 100, np.array(s["max"]) * 100, alpha=0.2, color=line.get_color()
        )
    ax.set(xlabel="optimizer step", ylabel="held-out success, policy alone (%)", title="FrozenLake: naive vs TSR GRPO")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=120)
    train = next(iter(results[tsr_arm].values()))["train"]
    keys = [
        ("tsr/success", "training-episode success"),
        ("tsr/proposals", "proposals / episode"),
        ("tsr/tokens_kept_ratio", "kept / generated tokens"),
        ("tsr_filter/groups_kept", "groups kept by filter"),
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3))
    for ax, (key, title) in zip(axes, keys, strict=True):
        steps = [r["step"] for r in train]
        if key == "tsr/tokens_kept_ratio":
            ys = [r["data"]["tsr/tokens_kept"] / max(1e-9, r["data"]["tsr/tokens_generated"]) for r in train]
        else:
            ys = [r["data"].get(key, np.nan) for r in train]
        ax.plot(steps, ys, marker=".")
        ax.set(title=title, xlabel="step")
        ax.grid(alpha=0.3)
    fig.suptitle(f"per-step TSR metrics ({tsr_arm}, first seed)")
    fig.tight_layout()
    fig.savefig(out / "tsr_metrics.png", dpi=120)
