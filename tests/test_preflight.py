"""Pre-launch checks: bad TSR settings fail before Ray starts; non-TSR jobs are left alone."""

from __future__ import annotations

import subprocess
import sys

from tsr_verl.cli.preflight import check, check_job, split_hydra_args

TSR = "actor_rollout_ref.rollout.agent.default_agent_loop=tsr_agent"
SAMPLER = [
    "trainer.v1.sampler.custom_sampler.path=pkg://tsr_verl.integration.sampler",
    "trainer.v1.sampler.custom_sampler.name=TSRReplayBuffer",
]


def smoke(repo_root, *overrides: str) -> list[str]:
    return [f"--config-path={repo_root / 'recipes/smoke/config'}", "--config-name=smoke_grpo", *overrides]


def test_split_hydra_args_both_spellings():
    assert split_hydra_args(["--config-path", "/a", "--config-name=b", "x=1"]) == ("/a", "b", ["x=1"])
    assert split_hydra_args(["y=2"]) == (None, "ppo_trainer", ["y=2"])


def test_jobs_without_tsr_are_not_touched(repo_root):
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    from tsr_verl.cli.preflight import compose

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
    cmd = [
        sys.executable,
        "-m",
        "tsr_verl.cli.launch",
        "--device",
        "cpu",
        "--",
        *smoke(
            repo_root,
            "actor_rollout_ref.rollout.agent.default_agent_loop=tsr_agent",
            "+actor_rollout_ref.rollout.custom.tsr.num_candidates=0",
        ),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 2 and "num_candidates must be >= 1" in done.stderr
    assert "launching" not in done.stdout


def test_tsr_training_without_the_tsr_sampler_warns(repo_root):
    (warning,) = check(smoke(repo_root, TSR)).warnings
    assert "without the TSR sampler" in warning and "error_penalty" in warning
    assert check(smoke(repo_root, TSR, *SAMPLER)).warnings == []
    assert check(smoke(repo_root, TSR, "trainer.val_only=true")).warnings == []  # nothing is trained


def test_filter_groups_with_the_tsr_sampler_warns_but_runs(repo_root):
    result = check(smoke(repo_root, TSR, *SAMPLER, "algorithm.filter_groups.enable=true"))
    assert result.error is None
    (warning,) = result.warnings
    assert "algorithm.filter_groups.enable=true is ignored" in warning


def test_dataset_manifest_with_other_prompt_settings_warns(repo_root, tmp_path):
    from tsr_verl.envs.datasets import write_splits
    from tsr_verl.envs.parsing import ParseConfig

    write_splits(
        tmp_path,
        "frozenlake",
        {"is_slippery": False},
        {"train": 1, "val": 1},
        max_actions=6,
        parse=ParseConfig(enable_think=False),
        progress=False,
    )
    data = [f"data.train_files={tmp_path / 'train.parquet'}", f"data.val_files={tmp_path / 'val.parquet'}"]
    # The smoke job itself uses single_turn_agent: the manifest's tsr_agent train rows make it a TSR job.
    tsr = "+actor_rollout_ref.rollout.custom.tsr"
    warnings = check(smoke(repo_root, *data, *SAMPLER, f"{tsr}.strategy=naive")).warnings
    assert len(warnings) == 2 and all("manifest.json" in w for w in warnings)
    assert "parse.enable_think: dataset False, job True" in warnings[0]
    assert "max_actions: dataset 6, job 10" in warnings[0] and warnings[0].startswith("data.train_files")
    # Settings that do not shape the stored prompt (parsing leniency, penalty) may differ.
    same = check(
        smoke(
            repo_root,
            *data,
            *SAMPLER,
            f"{tsr}.max_actions=6",
            f"{tsr}.parse.enable_think=false",
            f"{tsr}.parse.lenient=true",
            f"{tsr}.parse.format_penalty=-0.5",
        )
    )
    assert same.warnings == []
    # Without the sampler the manifest's tsr_agent rows are enough to warn about it.
    unsampled = check(smoke(repo_root, *data, f"{tsr}.max_actions=6", f"{tsr}.parse.enable_think=false"))
    assert any("without the TSR sampler" in w for w in unsampled.warnings)


def test_launcher_prints_warnings_and_still_starts(repo_root, capsys):
    from tsr_verl.cli import launch

    cmd, _ = launch.build_command(smoke(repo_root, TSR, "algorithm.filter_groups.enable=true", *SAMPLER), "gpu")
    assert launch.preflight(cmd) is None  # not an error: the job starts
    assert "[tsr_verl] warning: algorithm.filter_groups.enable=true is ignored" in capsys.readouterr().err
