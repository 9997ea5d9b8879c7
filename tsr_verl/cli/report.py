"""Statistics of a ``tsr-verl eval`` run, computed from veRL's per-sample validation dump.

veRL (``trainer.validation_data_dir=DIR``) writes ``DIR/<global_step>.jsonl`` from
``RayPPOTrainer._dump_generations`` (``verl/trainer/ppo/v1/trainer_base.py``): one JSON line per
agent-loop output with ``input``, ``output`` (decoded text), ``gts``, ``score`` (episode return),
``step``, ``reward`` (= score), every ``reward_extra_info`` key of the ``tsr_agent`` loop
(``success``, ``episode_return``, ``num_turns``, ``invalid_rate``, ``tsr_error``, ``tsr_*`` costs)
and ``uid``: veRL's key ``{prompt uid}_{session}_{output index}`` (``integration.sample_keys``). One
prompt uid = one seed (dataset row); its ``val_kwargs.n`` sessions are the k samples of that seed.
Means of the ``tsr_*`` search statistics skip non-finite values (NaN = undefined for an episode).

Why per episode rather than veRL's aggregated ``val-core``/``val-aux`` metrics: confidence
intervals and pass@k need the per-seed outcomes.

Confidence intervals (95%), over seeds (the independent unit):

* binary per-seed outcomes (``pass@k`` with n = k samples; ``success`` when k = 1): Wilson score
  interval, which stays inside [0, 1] and behaves at 0% / 100% and for few seeds;
* everything else (success with k > 1, return, turns, invalid-action rate): percentile bootstrap
  that resamples seeds with all their samples (2000 resamples, ``numpy`` RNG seed 0: reproducible).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tsr_verl.integration.sample_keys import SampleKey, parse_sample_key
from tsr_verl.search.metric_names import EPISODE_PREFIX, base_name, episode_key

Z95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
METRICS = {"success": "success", "return": "episode_return", "turns": "num_turns", "invalid_rate": "invalid_rate"}
"""Report name -> ``reward_extra_info`` key of the TSR agent loop."""


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples with ``c`` successes: ``1 - C(n-c, k) / C(n, k)``."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (``(0, 1)`` when ``n == 0``)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean(
    groups: Sequence[Sequence[float]], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> tuple[float, float]:
    """95% percentile bootstrap interval of the pooled mean, resampling whole groups (seeds)."""
    groups = [list(g) for g in groups if len(g)]
    if not groups:
        return math.nan, math.nan
    if len(groups) == 1:
        m = float(np.mean(groups[0]))
        return m, m
    sums = np.array([sum(g) for g in groups], dtype=float)
    counts = np.array([len(g) for g in groups], dtype=float)
    idx = np.random.default_rng(seed).integers(0, len(groups), size=(resamples, len(groups)))
    means = sums[idx].sum(axis=1) / counts[idx].sum(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def load_dump(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of one veRL validation dump file."""
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    if rows and "uid" not in rows[0]:
        raise ValueError(f"{path}: no 'uid' field; not a veRL validation dump")
    return rows


def _sample_key(uid: str) -> SampleKey:
    """The row's veRL sample key; a ``uid`` that is not one counts as one session of its own
    (``{seed}_{session}`` or just ``{seed}``), output 0."""
    try:
        return parse_sample_key(uid)
    except ValueError:
        seed, _, session = uid.rpartition("_")
        return SampleKey(seed, session, 0) if seed else SampleKey(uid, "", 0)


def group_episodes(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Seed (prompt uid) -> its episodes; of a multi-output session only the last output counts."""
    sessions: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}
    for row in rows:
        key = _sample_key(str(row["uid"]))
        session = (key.uid, key.session)
        if session not in sessions or key.index > sessions[session][0]:
            sessions[session] = (key.index, dict(row))
    seeds: dict[str, list[dict[str, Any]]] = {}
    for (seed, _), (_, row) in sessions.items():
        seeds.setdefault(seed, []).append(row)
    return seeds


def _values(episodes: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(e[key]) for e in episodes if e.get(key) is not None]


def _finite(episodes: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    """``key``'s values that are finite numbers: per-episode search statistics are NaN where
    undefined (``tsr_score_gap`` of an unscored episode), and a mean must skip those."""
    return [v for v in _values(episodes, key) if math.isfinite(v)]


def summarize(seeds: Mapping[str, Sequence[Mapping[str, Any]]], k: int) -> dict[str, Any]:
    """All numbers of ``eval.json``: each metric ``{"mean", "ci95", "ci_method"}`` plus cost means."""
    if not seeds:
        raise ValueError("the validation dump has no episodes")
    sizes = {len(eps) for eps in seeds.values()}
    out: dict[str, Any] = {
        "seeds": len(seeds),
        "episodes": sum(len(e) for e in seeds.values()),
        "samples_per_seed": sorted(sizes),
    }
    for name, key in METRICS.items():
        groups = [_values(eps, key) for eps in seeds.values()]
        if not any(groups):
            continue
        flat = [v for g in groups for v in g]
        entry: dict[str, Any] = {"mean": float(np.mean(flat))}
        if name == "success" and sizes == {1}:
            entry |= {"ci95": list(wilson(sum(flat), len(flat))), "ci_method": "wilson over seeds"}
        else:
            entry |= {"ci95": list(bootstrap_mean(groups)), "ci_method": "bootstrap over seeds"}
        out[name] = entry
    successes = [(len(g), int(sum(v > 0.5 for v in g))) for g in (_values(e, "success") for e in seeds.values()) if g]
    for j in range(1, k + 1):
        per_seed = [pass_at_k(n, c, j) for n, c in successes if n >= j]
        if not per_seed:
            continue
        binary = all(v in (0.0, 1.0) for v in per_seed)
        ci = wilson(sum(per_seed), len(per_seed)) if binary else bootstrap_mean([[v] for v in per_seed])
        out[f"pass@{j}"] = {
            "mean": float(np.mean(per_seed)),
            "ci95": list(ci),
            "ci_method": "wilson over seeds" if binary else "bootstrap over seeds",
        }
    all_eps = [e for eps in seeds.values() for e in eps]
    cost_keys = sorted({key for e in all_eps for key in e if key.startswith(EPISODE_PREFIX)})
    means = {key: _finite(all_eps, key) for key in cost_keys}
    out["tsr_cost_means"] = {key: float(np.mean(values)) for key, values in means.items() if values}
    return out


def table(summary: Mapping[str, Any]) -> str:
    """A short plain-text table of the headline numbers."""
    lines = [f"{'metric':<14}{'mean':>10}   95% CI", "-" * 44]
    names = ["success", *[n for n in summary if n.startswith("pass@")], "return", "turns", "invalid_rate"]
    for name in names:
        entry = summary.get(name)
        if not entry:
            continue
        lo, hi = entry["ci95"]
        lines.append(f"{name:<14}{entry['mean']:>10.4f}   [{lo:.4f}, {hi:.4f}]  {entry['ci_method']}")
    costs = summary.get("tsr_cost_means", {})
    if costs:
        shown = ", ".join(f"{base_name(k)}={v:.1f}" for k, v in costs.items() if k != episode_key("error"))
        lines.append(f"search cost per episode: {shown}")
    lines.append(f"{summary['episodes']} episodes over {summary['seeds']} seeds")
    return "\n".join(lines)
