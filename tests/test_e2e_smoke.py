"""Slow: stock ``verl.trainer.main_ppo`` (V1 trainer, vLLM rollout, FSDP2 actor) on the CPU.

Two GRPO steps of the smoke recipe on a tiny random model, launched exactly as a user would
(``python -m tsr_verl.cli.launch --device cpu``). Asserts the run exits 0, training metrics are finite,
the actor's weights changed, and the changed weights reached vLLM: veRL's own rollout-vs-actor
probability correlation at step 2 must be far closer to 1 than the correlation the *initial*
weights would give against the step-1 actor (the value a failed sync would produce).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _next_token_probs(model_dir: Path, state_dict: dict | None, text: str):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    if state_dict is not None:
        model.load_state_dict(state_dict)
    ids = tok(text, return_tensors="pt").input_ids
    with torch.no_grad():
        return torch.softmax(model(ids).logits[0].float(), dim=-1).flatten()


def _load_actor_checkpoint(path: Path) -> dict:
    import torch

    raw = torch.load(path, map_location="cpu", weights_only=False)
    return {k: (v.to_local() if hasattr(v, "to_local") else v).float() for k, v in raw.items()}


def _pearson(a, b) -> float:
    import torch

    return float(torch.corrcoef(torch.stack([a, b]))[0, 1])


@pytest.fixture(scope="module")
def peaked_tiny_model(tmp_path_factory, smollm2_tokenizer_dir):
    from tsr_verl.integration.models import build_tiny_model

    # Peaked next-token distributions make a training update visible in the probabilities.
    return build_tiny_model(
        tmp_path_factory.mktemp("e2e") / "tiny_peaked", tokenizer_dir=smollm2_tokenizer_dir, initializer_range=0.3
    )


def test_main_ppo_grpo_two_steps_on_cpu(tmp_path, repo_root, peaked_tiny_model, subprocess_env, leftovers):
    from tsr_verl.integration.smoke_task import prepare_data

    train, val = prepare_data(tmp_path / "data", n_train=16, n_val=4)
    metrics, ckpt = tmp_path / "metrics.jsonl", tmp_path / "ckpt"
    started = time.time()
    cmd = [
        sys.executable,
        "-m",
        "tsr_verl.cli.launch",
        "--device",
        "cpu",
        "--",
        f"--config-path={repo_root / 'recipes/smoke/config'}",
        "--config-name=smoke_grpo",
        f"data.train_files={train}",
        f"data.val_files={val}",
        f"actor_rollout_ref.model.path={peaked_tiny_model}",
        "actor_rollout_ref.actor.optim.lr=1e-2",
        "trainer.total_training_steps=2",
        "trainer.save_freq=1",
        f"trainer.default_local_dir={ckpt}",
        "trainer.logger=[console,file]",
        f"hydra.run.dir={tmp_path / 'hydra'}",
    ]
    env = subprocess_env(VERL_FILE_LOGGER_PATH=str(metrics))
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=1500)
    (tmp_path / "train.log").write_text(proc.stdout + proc.stderr)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]

    # A job that does not ask for TSR keeps veRL's default loop (the plugin only adds names).
    assert "'default_agent_loop': 'single_turn_agent'" in proc.stdout + proc.stderr
    assert "tsr/" not in metrics.read_text()
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]
    for row in rows:
        data = row["data"]
        for key in ("actor/grad_norm", "actor/entropy", "actor/pg_loss", "critic/score/mean"):
            assert math.isfinite(data[key]), (row["step"], key, data[key])
        assert data["actor/grad_norm"] > 0
    reported_corr = rows[1]["data"]["training/rollout_actor_probs_pearson_corr"]

    # The actor's weights changed ...
    initial = _load_actor_checkpoint(ckpt / "global_step_1/actor/model_world_size_1_rank_0.pt")
    assert (ckpt / "global_step_2/actor/model_world_size_1_rank_0.pt").is_file()
    text = "<|im_start|>user\nName one fruit. Answer with a single word.<|im_end|>\n<|im_start|>assistant\n"
    p_init = _next_token_probs(peaked_tiny_model, None, text)
    p_step1 = _next_token_probs(peaked_tiny_model, initial, text)
    assert (p_init - p_step1).abs().max() > 1e-3, "one GRPO step left the policy unchanged"
    # ... and vLLM served the updated weights at step 2 (a stale vLLM would score like p_init).
    stale_corr = _pearson(p_init, p_step1)
    print(f"rollout/actor correlation at step 2: {reported_corr:.5f}; a stale vLLM would give ~{stale_corr:.5f}")
    assert reported_corr > 0.99, reported_corr
    assert 1 - reported_corr < 0.5 * (1 - stale_corr), (reported_corr, stale_corr)

    survivors = leftovers(started)
    assert not survivors, f"Ray/vLLM processes survived the run: {survivors}"


def test_quickstart_main_job_runs_and_summarises(tmp_path, tiny_model_dir, subprocess_env, leftovers):
    # The README's main job (TSR on FrozenLake) on a tiny model and one step; converting the
    # default model is covered by test_models.py.
    out = tmp_path / "qs"
    cmd = [sys.executable, "-m", "tsr_verl.cli.main", "quickstart", "--steps", "1", "--out", str(out)]
    started = time.time()
    proc = subprocess.run(
        [*cmd, "--model", str(tiny_model_dir)], env=subprocess_env(), capture_output=True, text=True, timeout=1500
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    from tsr_verl.cli.quickstart import VAL_EPISODES

    assert f"eval success (policy alone, {VAL_EPISODES} maps): before " in proc.stdout
    assert "learned: " in proc.stdout or "no significant change: " in proc.stdout or "got worse: " in proc.stdout
    assert "search cost per episode: " in proc.stdout
    assert (out / "train.log").stat().st_size > 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = {r["step"]: r["data"] for r in rows}
    assert sorted(steps) == [0, 1]  # validation before training (step 0) and the training step
    assert steps[1]["tsr/proposals"] == 2 * steps[1]["tsr/num_turns"]  # best-of-2 every turn
    assert "val-aux/tsr_verl/frozenlake/success/mean@1" in steps[0]
    assert steps[1]["tsr_filter/groups_kept"] == 2 and steps[1]["tsr_filter/groups_before"] == 4
    # What the separate FrozenLake GRPO best-of-N recipe test checked (same recipe, loop, filter):
    m = steps[1]
    for key in (
        "tsr/tokens_generated",
        "tsr/tokens_kept",
        "tsr/success",
        "tsr/episode_return",
        "tsr/kept_invalid",
        "tsr/selection_changed",
        "tsr_filter/zero_variance_fraction",
        "tsr_filter/error_groups",
        "actor/pg_loss",
    ):
        assert key in m and math.isfinite(m[key]), key
    assert m["tsr/tokens_generated"] >= m["tsr/tokens_kept"] > 0
    assert m["tsr/forks"] >= m["tsr/proposals"] > 0  # every proposal scored on its own fork
    assert m["tsr/error"] == 0 and m["tsr_filter/error_groups"] == 0
    # Validation rows run tsr_eval: one proposal per turn, although training searched best-of-2.
    val = steps[0]
    prefix = next(k.rsplit("/", 2)[0] for k in val if k.endswith("/tsr_proposals/mean@1"))
    assert val[f"{prefix}/tsr_proposals/mean@1"] == pytest.approx(val[f"{prefix}/num_turns/mean@1"])
    assert leftovers(started) == []
