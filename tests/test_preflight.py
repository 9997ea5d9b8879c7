"""Pre-launch checks: bad TSR settings fail before Ray starts; non-TSR jobs are left alone."""

from __future__ import annotations

import subprocess
import sys

from tsr_verl.preflight import check_job, split_hydra_args


def smoke(repo_root, *overrides: str) -> list[str]:
    return [f"--config-path={repo_root / 'recipes/smoke/config'}", "--config-name=smoke_grpo", *overrides]


def test_split_hydra_args_both_spellings():
    assert split_hydra_args(["--config-path", "/a", "--config-name=b", "x=1"]) == ("/a", "b", ["x=1"])
    assert split_hydra_args(["y=2"]) == (None, "ppo_trainer", ["y=2"])


def test_jobs_without_tsr_are_not_touched(repo_root):
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    from tsr_verl.preflight import compose

    assert check_job(smoke(repo_root)) is None
    cfg = compose(smoke(repo_root))
    assert cfg.actor_rollout_ref.rollout.agent.default_agent_loop == "single_turn_agent"
    # Our plugin adds names; it never replaces veRL's own loops.
    assert _agent_loop_registry["single_turn_agent"]["_target_"].startswith("verl.")


def test_tsr_job_config_is_validated_with_the_key_named(repo_root):
    tsr = "actor_rollout_ref.rollout.agent.default_agent_loop=tsr_agent"
    assert check_job(smoke(repo_root, tsr, "+actor_rollout_ref.rollout.custom.tsr.strategy=beam")) is None
    bad = check_job(smoke(repo_root, tsr, "+actor_rollout_ref.rollout.custom.tsr.beam_size=2"))
    assert bad and "beam_size" in bad and "beam_width" in bad
    bad = check_job(smoke(repo_root, "+actor_rollout_ref.rollout.custom.tsr.strategy=mcts"))
    assert bad and "strategy" in bad


def test_launcher_refuses_to_start_a_bad_tsr_job(repo_root, subprocess_env):
    cmd = [sys.executable, "-m", "tsr_verl.launch", "--device", "cpu", "--", *smoke(
        repo_root, "actor_rollout_ref.rollout.agent.default_agent_loop=tsr_agent",
        "+actor_rollout_ref.rollout.custom.tsr.num_candidates=0")]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 2 and "num_candidates must be >= 1" in done.stderr
    assert "launching" not in done.stdout
