"""CPU speed settings: the measured dtype choice, its overrides in real veRL configs, the switch-off,
and that a bf16 forward agrees with fp32 closely enough for veRL's rollout/actor check."""

from __future__ import annotations

import json

import pytest

from tsr_verl.cli import launch
from tsr_verl.integration import cpu_tuning

SMOKE_ARGS = ["data.train_files=/x/train.parquet", "data.val_files=/x/val.parquet", "actor_rollout_ref.model.path=/m"]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TSR_VERL_CACHE", str(tmp_path))
    monkeypatch.delenv("TSR_VERL_CPU_DTYPE", raising=False)
    monkeypatch.delenv("TSR_VERL_CPU_TUNING", raising=False)
    return tmp_path


def test_matmul_speed_is_measured_and_cached(fresh_cache):
    speed = cpu_tuning.measure_dtypes()
    assert set(speed) == {"bf16", "fp32"} and all(v > 0 for v in speed.values())
    (cached,) = (fresh_cache / "cpu_matmul").glob("*.json")
    assert json.loads(cached.read_text()) == pytest.approx(speed)
    cached.write_text(json.dumps({"bf16": 1.0, "fp32": 100.0}))  # the cache is what decides next time
    assert cpu_tuning.compute_dtype() == "fp32"
    cached.write_text(json.dumps({"bf16": 95.0, "fp32": 100.0}))  # within 10%: bf16 (half the memory)
    assert cpu_tuning.compute_dtype() == "bf16"
    cached.write_text("not json")  # a damaged cache is measured again, not trusted
    assert set(cpu_tuning.measure_dtypes()) == {"bf16", "fp32"}


def test_forced_dtype_and_bad_value(fresh_cache, monkeypatch):
    monkeypatch.setenv("TSR_VERL_CPU_DTYPE", "bf16")
    assert cpu_tuning.compute_dtype() == "bf16" and cpu_tuning.overrides() == []
    monkeypatch.setenv("TSR_VERL_CPU_DTYPE", "fp16")
    with pytest.raises(ValueError, match="TSR_VERL_CPU_DTYPE"):
        cpu_tuning.compute_dtype()


def test_tuning_off_restores_the_stock_cpu_path(fresh_cache, monkeypatch):
    monkeypatch.setenv("TSR_VERL_CPU_TUNING", "0")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cmd, env = launch.build_command(SMOKE_ARGS, "cpu", python="py")
    assert "OMP_NUM_THREADS" not in env
    assert not any("mixed_precision" in a or "rollout.dtype" in a for a in cmd)


def test_fp32_overrides_reach_the_launch_and_compose(fresh_cache, monkeypatch, repo_root):
    from hydra import compose, initialize_config_dir
    from verl.utils.config import omega_conf_to_dataclass

    monkeypatch.setenv("TSR_VERL_CPU_DTYPE", "fp32")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cmd, env = launch.build_command(SMOKE_ARGS, "cpu", python="py")
    assert env["OMP_NUM_THREADS"] == str(cpu_tuning.cores())
    assert "actor_rollout_ref.rollout.dtype=float32" in cmd
    with initialize_config_dir(config_dir=str(repo_root / "recipes/smoke/config"), version_base=None):
        cfg = compose(config_name="smoke_grpo", overrides=launch.hydra_part(cmd))
    actor = omega_conf_to_dataclass(cfg.actor_rollout_ref.actor.fsdp_config)
    assert actor.mixed_precision == {"param_dtype": "fp32", "reduce_dtype": "fp32", "buffer_dtype": "fp32"}
    assert cfg.actor_rollout_ref.rollout.dtype == "float32"
    assert cfg.critic.fsdp.mixed_precision.param_dtype == "fp32"


def test_a_user_setting_wins_over_the_tuned_one(fresh_cache, monkeypatch):
    monkeypatch.setenv("TSR_VERL_CPU_DTYPE", "fp32")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    cmd, env = launch.build_command([*SMOKE_ARGS, "actor_rollout_ref.rollout.dtype=bfloat16"], "cpu", python="py")
    assert env["OMP_NUM_THREADS"] == "1"
    assert (
        "actor_rollout_ref.rollout.dtype=float32" not in cmd and cmd[-1] == "actor_rollout_ref.rollout.dtype=bfloat16"
    )


def test_bf16_log_probs_track_fp32_on_a_small_llama():
    """If a machine picks bf16 (AMX), veRL's actor computes log-probs in bf16 while the check in
    the e2e test wants rollout/actor probability correlation >= 0.99: a bf16 forward of the same
    weights must agree with fp32 at that level (here against fp32 as the reference)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        initializer_range=0.2,
    )
    model = LlamaForCausalLM(config).eval()
    ids = torch.randint(0, 512, (2, 48))
    with torch.no_grad():
        ref = model(ids).logits.float().log_softmax(-1)
        low = model.to(torch.bfloat16)(ids).logits.float().log_softmax(-1)
    target = ids[:, 1:]
    p_ref = ref[:, :-1].gather(-1, target[..., None]).exp().flatten()
    p_low = low[:, :-1].gather(-1, target[..., None]).exp().flatten()
    corr = torch.corrcoef(torch.stack([p_ref, p_low]))[0, 1].item()
    assert corr >= 0.99, corr
