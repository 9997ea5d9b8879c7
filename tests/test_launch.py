"""The CPU launcher: override merging, environment, and that the recipe composes both ways."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from tsr_verl.cli import launch
from tsr_verl.cli.supervise import supervised

SMOKE_ARGS = ["data.train_files=/x/train.parquet", "data.val_files=/x/val.parquet", "actor_rollout_ref.model.path=/m"]


def test_override_key_strips_hydra_prefixes():
    assert launch.override_key("+a.b=1") == "a.b"
    assert launch.override_key("++a.b=[1,2]") == "a.b"
    assert launch.override_key("~a.b") == "a.b"
    assert launch.override_key("a.b=x=y") == "a.b"


def test_user_override_replaces_cpu_default_and_flags_come_first():
    merged = launch.merge_overrides(
        ["a.b=1", "+c.d=2", "e=3"], ["--config-name=x", "+a.b=9", "c.d=7", "f=1", "--config-path=/p"]
    )
    assert merged == ["--config-name=x", "--config-path=/p", "e=3", "+a.b=9", "c.d=7", "f=1"]


def test_gpu_command_passes_arguments_through_untouched(monkeypatch):
    monkeypatch.delenv("VERL_PLATFORM", raising=False)
    cmd, env = launch.build_command(["x=1", "--config-name=y"], "gpu", python="py")
    assert cmd == ["py", "-m", "verl.trainer.main_ppo", "x=1", "--config-name=y"]
    assert "VERL_PLATFORM" not in env and "TSR_VERL_CPU" not in env


def test_cpu_command_adds_overrides_and_environment(monkeypatch):
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "4")  # a user's value wins over ours
    cmd, env = launch.build_command(["actor_rollout_ref.rollout.enforce_eager=false"], "cpu", python="py")
    assert cmd[:3] == ["py", "-m", "verl.trainer.main_ppo"]
    assert "actor_rollout_ref.rollout.enforce_eager=true" not in cmd
    assert cmd[-1] == "actor_rollout_ref.rollout.enforce_eager=false"
    assert "actor_rollout_ref.actor.strategy=fsdp2" in cmd
    assert env["VERL_PLATFORM"] == "cpu" and env["TSR_VERL_CPU"] == "1"
    assert env["VERL_USE_EXTERNAL_MODULES"] == "tsr_verl_patches.verl_cpu_platform"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "4"


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="device must be"):
        launch.build_command([], "tpu")


def _compose(repo_root, overrides):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(repo_root / "recipes/smoke/config"), version_base=None):
        return compose(config_name="smoke_grpo", overrides=overrides)


def test_recipe_composes_unchanged_for_gpu(repo_root):
    cfg = _compose(repo_root, SMOKE_ARGS)
    assert cfg.algorithm.adv_estimator == "grpo"
    assert cfg.actor_rollout_ref.actor.strategy == "fsdp"  # veRL's GPU default, untouched
    assert cfg.trainer.device == "cuda"


def test_recipe_composes_with_every_cpu_override(repo_root):
    overrides = launch.merge_overrides(launch.CPU_OVERRIDES, SMOKE_ARGS)
    cfg = _compose(repo_root, overrides)
    assert cfg.trainer.device == "cpu"
    assert cfg.actor_rollout_ref.actor.strategy == "fsdp2"
    assert cfg.critic.strategy == "fsdp2"
    assert cfg.actor_rollout_ref.model.override_config.attn_implementation == "sdpa"
    assert cfg.actor_rollout_ref.rollout.enable_sleep_mode is False
    assert cfg.ray_kwargs.ray_init.num_gpus == 1
    assert cfg.transfer_queue.backend.SimpleStorage.num_data_storage_units == 1


def test_rollout_config_dataclass_accepts_cpu_overrides(repo_root):
    from verl.utils.config import omega_conf_to_dataclass

    cfg = _compose(repo_root, launch.merge_overrides(launch.CPU_OVERRIDES, SMOKE_ARGS))
    rollout = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout)
    assert rollout.enforce_eager is True and rollout.free_cache_engine is False


def test_dry_run_prints_environment_and_command(subprocess_env, repo_root):
    out = subprocess.run(
        [sys.executable, "-m", "tsr_verl.cli.launch", "--device", "cpu", "--dry-run", "--", *SMOKE_ARGS],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        cwd=repo_root,
    )
    assert out.returncode == 0, out.stderr
    assert "VERL_PLATFORM=cpu" in out.stdout
    assert "-m verl.trainer.main_ppo" in out.stdout and "trainer.device=cpu" in out.stdout


def test_supervised_leaves_no_detached_helper_behind(tmp_path):
    import psutil

    pid_file = tmp_path / "helper.pid"
    # The job starts a helper in its own session (as Ray's raylet does with workers) and exits.
    script = f"setsid sleep 300 & echo $! > {pid_file}; exit 0"
    with supervised(["bash", "-c", script], env=dict(os.environ), grace_s=1.0) as proc:
        assert proc.wait(timeout=30) == 0
    helper = int(pid_file.read_text())
    assert not psutil.pid_exists(helper) or psutil.Process(helper).status() == psutil.STATUS_ZOMBIE


def test_sigterm_to_the_launcher_stops_the_job_and_its_helpers(tmp_path, subprocess_env):
    import psutil

    pid_file = tmp_path / "pids"
    job = f"setsid sleep 300 & echo $! >> {pid_file}; sleep 300 & echo $! >> {pid_file}; wait"
    launcher = textwrap.dedent(
        f"""
        from tsr_verl.cli.supervise import supervised
        with supervised(["bash", "-c", {job!r}], grace_s=1.0) as proc:
            proc.wait()
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", launcher], env=subprocess_env())
    deadline = time.monotonic() + 30
    while (not pid_file.exists() or len(pid_file.read_text().split()) < 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    parent.terminate()
    assert parent.wait(timeout=120) == 143
    for pid in map(int, pid_file.read_text().split()):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
