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
    ("webshop.py", ["--sizes", "300", "--episodes", "5", "--queries", "20", "--no-ray"], "search latency"),
]


@pytest.mark.parametrize(("script", "args", "expect"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
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


@pytest.mark.parametrize("script", ["rollout_quality.py", "learning_curve.py"])
def test_llm_benchmarks_parse_their_arguments(repo_root, script):
    """These two need vLLM / veRL runs of minutes to hours; here only their command lines."""
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
