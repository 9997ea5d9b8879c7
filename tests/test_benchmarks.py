"""The CPU-only benchmark scripts run end to end with tiny budgets (cleanrl style: a subprocess
per script), so a refactor cannot silently break them. Their numbers are not checked here:
speed goals live in the scripts' printed ratios, not in timed tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPTS = [
    ("envs.py", ["--quick"], "fork vs rebuild"),
    ("search.py", ["--groups", "2", "--group-size", "3"], "trajectory_best_of_n"),
    ("search.py", ["--groups", "1", "--group-size", "3", "--env", "frozenlake", "--beam-width", "3"], "B=3,"),
    ("webshop.py", ["--sizes", "300", "--episodes", "5", "--queries", "20", "--no-ray"], "search latency"),
]


@pytest.mark.parametrize(("script", "args", "expect"), SCRIPTS, ids=[f"{s[0]}-{i}" for i, s in enumerate(SCRIPTS)])
def test_benchmark_script_runs(repo_root, tmp_path, script, args, expect):
    done = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={"TSR_VERL_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert expect in done.stdout


@pytest.mark.parametrize("script", ["rollout_quality.py", "learning_curve.py", "train_step.py"])
def test_llm_benchmarks_parse_their_arguments(repo_root, script):
    """These need vLLM / veRL runs of minutes to hours; here only their command lines."""
    done = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-2000:]


def test_webshop_reference_check_runs(repo_root, tmp_path):
    """benchmarks/webshop_reference.py on a few vendored queries and purchases (spaCy path)."""
    args = ["--ref-dir", str(repo_root / "tests" / "fixtures" / "webshop"), "--queries", "10", "--rewards", "10"]
    done = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / "webshop_reference.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={"TSR_VERL_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "search backend bm25s: 10 queries" in done.stdout and "page-1 agreement (top-10 set): " in done.stdout
    assert "exact match with upstream:     10/10" in done.stdout


def test_train_step_summary_is_steady_state_and_counts_flops(repo_root, monkeypatch):
    """The step benchmark's arithmetic on made-up records: the first (warm-up) step is left out,
    and the limit share is 6·params·tokens (training) or 2·params·tokens (forward) over the peak."""
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import train_step

    def record(step: int, update_s: float) -> dict:
        phases = {p: {"s": 0.0, "cores": 1.0} for p in train_step.PHASES}
        phases.update(gen={"s": 10.0, "cores": 1.0}, update_actor={"s": update_s, "cores": 2.0})
        return {
            "step": step,
            "step_s": 12.0 + update_s,
            "cores_step": 1.5,
            "gen_tokens": 500.0,
            "trained_tokens": 1000.0,
            "pearson": 0.999,
            **phases,
        }

    summary = train_step.summarize(
        [record(1, 100.0), record(2, 6.0), record(3, 6.0)], params=1_000_000, peak_gflops=2.0
    )
    assert summary["update_actor"]["s"] == 6.0 and summary["step_s"] == 18.0
    assert summary["update_actor"]["limit_share"] == pytest.approx(6 * 1e6 * 1000 / 6.0 / 2e9)
    assert summary["gen"]["tok_per_s"] == 50.0
    assert summary["rest"]["s"] == pytest.approx(18.0 - 16.0)


def test_learning_stats_pairs_seeds_and_bootstraps_the_difference(repo_root, monkeypatch):
    """learning_curve.py's pre-declared analysis on made-up curves: final success and AUC per
    seed, arm − naive paired by seed, a CI that brackets the mean and excludes 0 only when every
    seed agrees, tokens from per-episode metrics, and arm specs checked."""
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import learning_stats as ls

    assert ls.parse_arm("beam:coupled") == ("beam", "coupled") and ls.parse_arm("naive") == ("naive", "independent")
    for bad in ("naive:coupled", "bream", "beam:shared"):
        with pytest.raises(ValueError, match="arm"):
            ls.parse_arm(bad)
    assert ls.auc([0, 5, 10], [0.0, 0.5, 0.5]) == pytest.approx(0.375)
    naive = {s: {0: 0.1, 5: 0.1, 10: 0.1 + 0.01 * s} for s in range(5)}
    better = {s: {0: 0.1, 5: 0.2, 10: 0.3 + 0.01 * s} for s in range(5)}
    mixed = {s: {0: 0.1, 5: 0.1, 10: 0.1 + (0.1 if s % 2 else -0.1)} for s in range(5)}
    out = ls.compare({"naive": naive, "beam": better, "beam:coupled": mixed})
    assert out["seeds"] == [0, 1, 2, 3, 4] and out["steps"] == [0, 5, 10]
    d = out["vs_naive"]["beam"]["final"]
    assert d["per_seed"] == pytest.approx([0.2] * 5) and d["mean"] == pytest.approx(0.2)
    assert d["ci95"] == pytest.approx([0.2, 0.2])
    m = out["vs_naive"]["beam:coupled"]["final"]
    assert m["ci95"][0] < 0 < m["ci95"][1] and m["ci95"][0] <= m["mean"] <= m["ci95"][1]
    assert out["vs_naive"]["beam"]["auc"]["mean"] > 0
    rows = [{"data": {"tsr/tokens_generated": 10.0}}, {"data": {"tsr/tokens_generated": 30.0}}]
    assert ls.arm_compute(rows, 16) == {"tokens_generated": 640.0, "episodes": 32.0}


def test_learning_curve_jobs_share_step_zero_and_fit_their_sequences(repo_root, monkeypatch, tmp_path):
    """learning_curve.py's veRL arguments: only a seed's first arm validates the initial model
    (the others reuse it), the arms differ only in strategy / group mode, and the padded lengths
    follow the horizon and observation format."""
    import argparse

    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import learning_jobs as lc

    settings = {"val_samples": 2, "val_temperature": 0.5, "max_turns": 4, "steps": 8, "eval_every": 4, "top_k": 50}
    settings |= {"keep_ratio": 0.5, "device": "cpu", "groups": 4, "group_size": 4, "lr": 5e-4, "adam_eps": 1e-5}
    ns = argparse.Namespace(
        arms=["naive", "beam", "beam:coupled"], observation="grid_coord", setting="tiny", **settings
    )
    args = {arm: lc.job_args(ns, tmp_path, tmp_path / "m", arm, 3, tmp_path / arm) for arm in ns.arms}
    assert "trainer.val_before_train=true" in args["naive"]
    assert "trainer.val_before_train=false" in args["beam"] and "trainer.val_before_train=false" in args["beam:coupled"]
    assert "actor_rollout_ref.rollout.custom.tsr.group_mode=coupled" in args["beam:coupled"]
    differ = {a for a in args["naive"] if "/" not in a} ^ {a for a in args["beam:coupled"] if "/" not in a}
    assert {d.split("=")[0] for d in differ} == {
        "actor_rollout_ref.rollout.custom.tsr.strategy",
        "actor_rollout_ref.rollout.custom.tsr.group_mode",
        "trainer.val_before_train",
    }
    assert "actor_rollout_ref.actor.optim.override_optimizer_config={eps:1e-05}" in args["beam"]
    # --top-k truncates training rollouts and validation alike (the policy as it is sampled).
    assert {"actor_rollout_ref.rollout.top_k=50", "actor_rollout_ref.rollout.val_kwargs.top_k=50"} <= set(args["beam"])
    sizes = dict(a.split("=", 1) for a in lc.cpu_sizes(4, 4, 0.5, 1e-4, max_turns=5, coords=False))
    # 5 turns: 5 answers of <= 24 tokens and 4 observations of <= 90, rounded up to 64.
    assert (sizes["data.max_prompt_length"], sizes["data.max_response_length"]) == ("288", "512")
    assert sizes["actor_rollout_ref.actor.ppo_mini_batch_size"] == "2"  # the 2 groups StarPO-S keeps
    coords = dict(a.split("=", 1) for a in lc.cpu_sizes(4, 4, 0.5, 1e-4, max_turns=5, coords=True))
    assert coords["data.max_response_length"] == "640" and coords["actor_rollout_ref.rollout.max_model_len"] == "960"


def test_learning_curve_main_setting_is_the_quickstart_job_per_arm(repo_root, monkeypatch, tmp_path):
    """``--setting main`` trains the quickstart's job itself (same sizes, lr, model, data): per arm
    and seed only the strategy, group mode, seeds, schedule and evaluation change."""
    import argparse

    from tsr_verl.cli import quickstart

    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import learning_jobs as lc

    ns = argparse.Namespace(setting="main", arms=["naive", "best_of_n", "best_of_n:coupled"], val_samples=1)
    ns.__dict__ |= {"val_temperature": 1.0, "top_k": -1, "steps": 8, "eval_every": 4, "val": 96, "device": "cpu"}
    args = {arm: lc.job_args(ns, tmp_path, tmp_path / "m", arm, 3, tmp_path / "r") for arm in ns.arms}
    keys = [a.split("=", 1)[0] for a in args["naive"]]
    assert len(keys) == len(set(keys))  # every setting once: the experiment's values replace the job's
    base = quickstart.job(tmp_path / "r", tmp_path, tmp_path / "m", 8, "cpu").overrides
    changed = {a.split("=", 1)[0] for a in set(args["naive"]) - set(base)}
    assert changed == {
        "actor_rollout_ref.rollout.custom.tsr.strategy",
        "actor_rollout_ref.rollout.custom.tsr.group_mode",
        "actor_rollout_ref.rollout.val_kwargs.n",
        "actor_rollout_ref.rollout.val_kwargs.do_sample",
        "actor_rollout_ref.rollout.top_k",
        "actor_rollout_ref.rollout.val_kwargs.top_k",
        "data.seed",
        "actor_rollout_ref.rollout.seed",
        "trainer.test_freq",
        "data.val_max_samples",
    }
    assert "data.val_max_samples=96" in args["naive"] and "trainer.val_before_train=true" in args["naive"]
    assert "trainer.val_before_train=false" in args["best_of_n"]  # the seed's step 0 is naive's
    assert "actor_rollout_ref.rollout.custom.tsr.group_mode=coupled" in args["best_of_n:coupled"]


def test_warmstart_probe_scores_a_random_policy_near_uniform(repo_root, monkeypatch, tiny_model_dir, tmp_path):
    """The probe's mass on shortest-path moves is a distribution's share (a random tiny model sits
    near the uniform share), and a folder that is not a model is refused by name."""
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    import warmstart_probe

    mass, uniform = warmstart_probe.probe(tiny_model_dir, "grid", maps=6)
    assert 0.0 < uniform < 1.0 and abs(mass - uniform) < 0.2
    done = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / "warmstart_probe.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "is not a model folder" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--warmstart-expert", "1.5"], "--warmstart-expert must be in [0, 1], got 1.5"),
        (["--max-turns", "0"], "--max-turns must be >= 1, got 0"),
        (["--adam-eps", "0"], "--adam-eps must be > 0, got 0.0"),
        (["--arms", "beam"], "--arms needs 'naive'"),
        (["--top-k", "0"], "--top-k must be -1 (off) or >= 1, got 0"),
    ],
)
def test_learning_curve_refuses_bad_settings_before_any_work(repo_root, tmp_path, args, message):
    done = subprocess.run(
        [sys.executable, str(repo_root / "benchmarks" / "learning_curve.py"), *args, "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and message in done.stderr and not (tmp_path / "o").exists()
