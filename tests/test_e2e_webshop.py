"""Slow: real veRL ``main_ppo`` with the ``tsr_agent`` loop on WebShop, on the CPU, through the recipe.

Prepares a small dataset on the generated ``synthetic:200`` catalog with ``recipes/webshop/
prepare_data.sh``, runs ``recipes/webshop/run.sh grpo beam --device cpu`` (its ``cpu_overrides``
included) on a tiny random model for 2 steps with instance filtering, and checks from veRL's
metric log that the run finished, that TSR's cost metrics are there and consistent with beam
search, that filtering and validation (without search) happened, and that no Ray/vLLM process
outlived the run. A WebShop world is built in each rollout worker, so this also checks that the
env works inside veRL's processes.
"""

from __future__ import annotations

import json
import math
import subprocess
import time

import pytest

pytestmark = pytest.mark.slow

TSR = "actor_rollout_ref.rollout.custom.tsr"


def test_webshop_grpo_beam(tmp_path, repo_root, tiny_model_dir, subprocess_env, leftovers):
    data = tmp_path / "data"
    prep = subprocess.run(
        [
            "bash",
            str(repo_root / "recipes/webshop/prepare_data.sh"),
            "--out",
            str(data),
            "--train",
            "4",
            "--val",
            "2",
            "--test",
            "0",
        ],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=300,
    )
    assert prep.returncode == 0, prep.stderr
    metrics = tmp_path / "metrics.jsonl"
    env = subprocess_env(MODEL=str(tiny_model_dir), DATA=str(data), VERL_FILE_LOGGER_PATH=str(metrics))
    cmd = [
        "bash",
        str(repo_root / "recipes/webshop/run.sh"),
        "grpo",
        "beam",
        "--device",
        "cpu",
        f"{TSR}.num_candidates=2",
        f"{TSR}.beam_width=2",
        f"{TSR}.max_turns=2",
        f"{TSR}.max_tokens_per_turn=16",
        # One step (the smoke test covers a second step after a weight sync): CI machines are slow.
        "trainer.total_training_steps=1",
        "trainer.test_freq=1",
        "trainer.val_before_train=false",
        "data.val_max_samples=2",
        "trainer.logger=[console,file]",
        # The tiny model's context is 2048 (SmolLM2's 8192 takes cpu_overrides' 768 + 2048 as is);
        # 2 turns of 16 tokens around one results page (~800 tokens) fit in 1280.
        "data.max_response_length=1280",
        "actor_rollout_ref.rollout.max_model_len=2048",
        "algorithm.reward_variance_filtering.top_k_ratio=0.5",
    ]
    started = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    (tmp_path / "train.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    rows = {r["step"]: r["data"] for r in map(json.loads, metrics.read_text().splitlines())}
    assert leftovers(started) == [], "Ray/vLLM processes survived the run"

    assert sorted(rows) == [1]
    for step in (1,):
        m = rows[step]
        for key in (
            "tsr/proposals",
            "tsr/tokens_generated",
            "tsr/tokens_kept",
            "tsr/success",
            "tsr/episode_return",
            "tsr/num_turns",
            "tsr/env_steps",
            "tsr_filter/groups_before",
            "tsr_filter/groups_kept",
            "actor/pg_loss",
        ):
            assert key in m and math.isfinite(m[key]), key
        assert m["tsr/tokens_generated"] >= m["tsr/tokens_kept"] > 0
        assert m["tsr/error"] == 0  # the WebShop env and the env_progress scorer ran without raising
        assert m["tsr_filter/groups_kept"] == 1 and m["tsr_filter/groups_before"] == 2  # int(0.5 x 2 groups)
        # Beam B=2 x M=2: 2 proposals on turn 1 (one beam), up to 4 on turn 2.
        assert 2 * m["tsr/num_turns"] <= m["tsr/proposals"] <= 4 * m["tsr/num_turns"]
    val = rows[1]  # validation rows run tsr_eval: one proposal per turn, no search
    prefix = next(k.rsplit("/", 2)[0] for k in val if k.endswith("/tsr_proposals/mean@1"))
    assert val[f"{prefix}/tsr_proposals/mean@1"] == pytest.approx(val[f"{prefix}/num_turns/mean@1"])
