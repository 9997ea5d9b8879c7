"""Slow: real veRL ``main_ppo`` with the ``tsr_agent`` loop on the CPU, through the recipes.

Each test prepares a small dataset with the recipe's own ``prepare_data.sh``, runs the recipe's
``run.sh ALGO STRATEGY --device cpu`` on a tiny random model for 1 step (instance filtering on),
and checks from veRL's own metric log that the run finished, that TSR's cost metrics are there and
consistent with the strategy, that filtering and validation (without search) happened, and that
no Ray/vLLM process outlived the run.
"""

from __future__ import annotations

import json
import math
import subprocess
import time

import pytest

pytestmark = pytest.mark.slow

FILTER = ["algorithm.reward_variance_filtering.top_k_ratio=0.5"]  # the recipe enables the TSR sampler


def run_recipe(
    repo_root,
    tmp_path,
    tiny_model_dir,
    subprocess_env,
    leftovers,
    env_name,
    algo,
    strategy,
    *extra,
    steps=1,
    tokens_per_turn=16,
    candidates=2,
):
    data = tmp_path / "data"
    prep = subprocess.run(
        [
            "bash",
            str(repo_root / f"recipes/{env_name}/prepare_data.sh"),
            "--out",
            str(data),
            "--train",
            "8",
            "--val",
            "4",
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
        str(repo_root / f"recipes/{env_name}/run.sh"),
        algo,
        strategy,
        "--device",
        "cpu",
        f"actor_rollout_ref.rollout.custom.tsr.num_candidates={candidates}",
        "actor_rollout_ref.rollout.custom.tsr.beam_width=2",
        "actor_rollout_ref.rollout.custom.tsr.max_turns=2",
        f"actor_rollout_ref.rollout.custom.tsr.max_tokens_per_turn={tokens_per_turn}",
        # One step by default (the smoke test covers a second step after a weight sync): CI
        # machines are slow.
        f"trainer.total_training_steps={steps}",
        f"trainer.test_freq={steps}",
        "trainer.val_before_train=false",
        "trainer.logger=[console,file]",
        # 2 turns of <= 16 tokens around one observation fit in 256 response tokens; on CPU every
        # sequence is padded to prompt + response, so this halves the actor's work.
        "data.max_response_length=256",
        "actor_rollout_ref.rollout.max_model_len=768",
        *FILTER,
        *extra,
    ]
    started = time.time()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    (tmp_path / "train.log").write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    rows = {r["step"]: r["data"] for r in map(json.loads, metrics.read_text().splitlines())}
    assert leftovers(started) == [], "Ray/vLLM processes survived the run"
    return rows


def check_common(rows):
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
            "tsr/kept_invalid",
            "tsr/selection_changed",
            "tsr_filter/groups_before",
            "tsr_filter/groups_kept",
            "tsr_filter/zero_variance_fraction",
            "tsr_filter/error_groups",
            "actor/pg_loss",
        ):
            assert key in m and math.isfinite(m[key]), key
        assert m["tsr/tokens_generated"] >= m["tsr/tokens_kept"] > 0
        # The run searches (score_samples=1): every proposal is scored on its own fork, and every
        # kept turn is committed on one more, so forks >= proposals > 0 (a random model's answers
        # may execute no action, so env_steps can legitimately be 0).
        assert m["tsr/forks"] >= m["tsr/proposals"] > 0
        assert m["tsr/error"] == 0 and m["tsr_filter/error_groups"] == 0
        assert m["tsr_filter/groups_kept"] == 1 and m["tsr_filter/groups_before"] == 2  # int(0.5 x 2 groups)
    val = rows[1]
    # Validation rows run tsr_eval: one proposal per turn, whatever the training strategy.
    prefix = next(k.rsplit("/", 2)[0] for k in val if k.endswith("/tsr_proposals/mean@1"))
    assert val[f"{prefix}/tsr_proposals/mean@1"] == pytest.approx(val[f"{prefix}/num_turns/mean@1"])


def test_sokoban_ppo_beam_with_critic(tmp_path, repo_root, tiny_model_dir, subprocess_env, leftovers):
    rows = run_recipe(repo_root, tmp_path, tiny_model_dir, subprocess_env, leftovers, "sokoban", "ppo", "beam")
    check_common(rows)
    for step in (1,):
        m = rows[step]
        assert math.isfinite(m["critic/vf_loss"])  # PPO: the critic trained
        # Beam B=2 x M=2: 2 proposals on turn 1 (one beam), up to 4 on later turns.
        assert 2 * m["tsr/num_turns"] <= m["tsr/proposals"] <= 4 * m["tsr/num_turns"]


@pytest.fixture(scope="module")
def format_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model after a short format warm-start (``tsr_verl/integration/warmstart.py``): it
    answers in RAGEN's format naming uniformly random actions, so a search has distinct valid
    actions to choose among (the random tiny model names none, so all its paths are one)."""
    from tsr_verl.integration.warmstart import warm_start

    out = tmp_path_factory.mktemp("models") / "format"
    env = {"size": 4, "p": 0.8, "is_slippery": False}
    losses = warm_start(tiny_model_dir, out, "frozenlake", env, steps=80, batch_size=8, lr=3e-3)
    assert losses["loss_last"] < 0.1 * losses["loss_first"], losses
    return out


def test_frozenlake_grpo_coupled_groups(tmp_path, repo_root, format_model_dir, subprocess_env, leftovers):
    """tsr.group_mode=coupled through real veRL: one beam search per prompt fills its group of 4
    (rollout.n) with 4 distinct episodes, for 2 GRPO steps with a weight sync between them."""
    rows = run_recipe(
        repo_root,
        tmp_path,
        format_model_dir,
        subprocess_env,
        leftovers,
        "frozenlake",
        "grpo",
        "beam",
        "actor_rollout_ref.rollout.custom.tsr.group_mode=coupled",
        steps=2,
        tokens_per_turn=32,  # "<think>I will try Left.</think><answer>Left</answer>" fits
        candidates=4,
    )
    assert sorted(rows) == [1, 2]
    for step in (1, 2):
        m = rows[step]
        assert m["tsr/error"] == 0 and m["tsr_filter/error_groups"] == 0
        # The format model names valid actions, so the tree (8 first-turn answers, up to 16
        # two-turn paths) has 4 distinct action sequences for every group (distinct_beams).
        assert m["tsr/group_distinct"] == 4 and m["tsr/group_proposal_calls"] >= 2
        assert m["tsr/kept_invalid"] < 0.5
        # Each member reports 1/4 of its group's search, so per-episode tokens are tokens per
        # trained trajectory, the same figure the group reports.
        assert m["tsr/tokens_generated"] == pytest.approx(m["tsr/group_tokens_per_trajectory"])
        # B=2, M=4, 2 turns: the coupled search proposes 2 copies x 4 on turn 1 and at most 4
        # beams x 4 on turn 2, for FOUR members: <= 6 each. An independent search proposes 4 on
        # turn 1 and 4 or 8 on turn 2 for ONE trained trajectory (the benchmarks compare them).
        assert m["tsr/proposals"] <= 6, m["tsr/proposals"]
        assert m["training/rollout_actor_probs_pearson_corr"] > 0.99
        assert math.isfinite(m["tsr_filter/zero_variance_fraction"]) and math.isfinite(m["actor/pg_loss"])
