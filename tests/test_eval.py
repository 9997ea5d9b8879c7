"""``tsr-verl eval``: statistics, veRL's validation dump format, input checks, and (slow) end to end."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from tsr_verl.cli import eval as tsr_eval
from tsr_verl.cli import report as rep
from tsr_verl.cli.main import build_parser
from tsr_verl.cli.main import main as cli_main

# --- statistics -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 2, 1, 0.4),
        (5, 2, 2, 1 - 3 / 10),
        (4, 0, 2, 0.0),
        (3, 3, 1, 1.0),
        (4, 1, 4, 1.0),
        (6, 1, 3, 0.5),
        (10, 3, 5, 1 - 21 / 252),
    ],
)
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert rep.pass_at_k(n, c, k) == pytest.approx(expected)


@pytest.mark.parametrize(("n", "c", "k"), [(3, 4, 1), (3, 1, 0), (3, 1, 4), (2, -1, 1)])
def test_pass_at_k_rejects_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        rep.pass_at_k(n, c, k)


def test_wilson_interval_known_value_and_properties():
    lo, hi = rep.wilson(8, 10)
    assert (lo, hi) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert rep.wilson(0, 20)[0] == 0.0 and rep.wilson(20, 20)[1] == 1.0
    assert rep.wilson(0, 20)[1] > 0 and rep.wilson(20, 20)[0] < 1  # never a zero-width interval
    small, large = rep.wilson(5, 10), rep.wilson(50, 100)
    assert large[1] - large[0] < small[1] - small[0] and small[0] < 0.5 < small[1]
    assert rep.wilson(0, 0) == (0.0, 1.0)


def test_bootstrap_is_reproducible_and_contains_the_mean():
    groups = [[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.5, 1.0], [0.0, 1.0]]
    ci = rep.bootstrap_mean(groups)
    assert ci == rep.bootstrap_mean(groups)  # fixed RNG seed
    assert ci[0] <= 5.5 / 10 <= ci[1] and 0.0 <= ci[0] < ci[1] <= 1.0
    assert rep.bootstrap_mean([[2.0, 4.0]]) == (3.0, 3.0)  # one seed: no spread to resample
    assert rep.bootstrap_mean([[3.0], [3.0], [3.0]]) == (3.0, 3.0)
    assert all(math.isnan(x) for x in rep.bootstrap_mean([]))


# --- veRL's dump format ------------------------------------------------------------------------


def dump_row(
    uid: str, session: int, index: int, success: float, ret: float, turns: float, invalid: float, proposals: float = 1.0
) -> dict:
    """One line as ``PPOTrainer._write_generations`` writes it for a ``tsr_agent``/``tsr_eval`` episode."""
    return {
        "input": f"prompt {uid}",
        "output": "<answer>Left</answer>",
        "gts": "",
        "score": ret,
        "step": 0,
        "reward": ret,
        "success": success,
        "episode_return": ret,
        "num_turns": turns,
        "invalid_rate": invalid,
        "tsr_error": 0.0,
        "tsr_proposals": proposals,
        "tsr_tokens_generated": 10.0 * proposals,
        "uid": f"{uid}_{session}_{index}",
    }


def hand_dump(tmp_path):
    rows = [
        dump_row("a", 0, 0, 1.0, 1.0, 2.0, 0.0),
        dump_row("a", 1, 0, 0.0, -0.1, 5.0, 0.2),
        dump_row("b", 0, 0, 0.0, 0.0, 5.0, 0.4),
        dump_row("b", 1, 0, 0.0, 0.0, 5.0, 0.0),
        dump_row("c", 0, 0, 1.0, 0.9, 3.0, 0.0, 3.0),
        dump_row("c", 1, 0, 1.0, 1.0, 1.0, 0.0),
    ]
    path = tmp_path / "0.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_summary_of_a_hand_made_dump(tmp_path):
    seeds = rep.group_episodes(rep.load_dump(hand_dump(tmp_path)))
    assert sorted(seeds) == ["a", "b", "c"] and all(len(v) == 2 for v in seeds.values())
    s = rep.summarize(seeds, k=2)
    assert (s["seeds"], s["episodes"], s["samples_per_seed"]) == (3, 6, [2])
    assert s["success"]["mean"] == pytest.approx(0.5) and s["success"]["ci_method"] == "bootstrap over seeds"
    assert s["pass@1"]["mean"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert s["pass@2"]["mean"] == pytest.approx(2 / 3) and s["pass@2"]["ci_method"] == "wilson over seeds"
    assert s["pass@2"]["ci95"] == pytest.approx(list(rep.wilson(2, 3)))
    assert s["return"]["mean"] == pytest.approx(2.8 / 6) and s["turns"]["mean"] == pytest.approx(21 / 6)
    assert s["invalid_rate"]["mean"] == pytest.approx(0.1)
    for name in ("success", "pass@1", "pass@2", "return", "turns", "invalid_rate"):
        lo, hi = s[name]["ci95"]
        assert lo <= s[name]["mean"] <= hi
    assert s["tsr_cost_means"]["tsr_proposals"] == pytest.approx(8 / 6) and s["tsr_cost_means"]["tsr_error"] == 0
    text = rep.table(s)
    assert "pass@2" in text and "6 episodes over 3 seeds" in text


def test_k1_success_uses_wilson_and_multi_output_sessions_count_once(tmp_path):
    rows = [
        dump_row("a", 0, 0, 0.0, 0.0, 1.0, 0.0),
        dump_row("a", 0, 1, 1.0, 1.0, 2.0, 0.0),
        dump_row("b", 0, 0, 0.0, 0.0, 5.0, 1.0),
    ]
    seeds = rep.group_episodes(rows)
    assert [e["success"] for e in seeds["a"]] == [1.0]  # the session's last output
    s = rep.summarize(seeds, k=1)
    assert s["episodes"] == 2 and s["success"]["ci_method"] == "wilson over seeds"
    assert s["success"]["ci95"] == pytest.approx(list(rep.wilson(1, 2)))


def test_dump_written_by_verl_itself_is_parsed(tmp_path):
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    rows = [dump_row(u, s, 0, float(u == "x"), 1.0, 2.0, 0.0) for u in ("x", "y") for s in range(3)]
    extra = {k: [r[k] for r in rows] for k in rows[0] if k not in ("input", "output", "gts", "score", "step")}
    PPOTrainer._write_generations(
        [r["input"] for r in rows], [r["output"] for r in rows], [""] * 6, [1.0] * 6, extra, str(tmp_path), 0
    )
    s = rep.summarize(rep.group_episodes(rep.load_dump(tmp_path / "0.jsonl")), k=3)
    assert (s["seeds"], s["episodes"]) == (2, 6) and s["pass@3"]["mean"] == 0.5 and s["success"]["mean"] == 0.5


def test_a_file_without_uids_is_not_a_dump(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"input": "a"}\n')
    with pytest.raises(ValueError, match="uid"):
        rep.load_dump(tmp_path / "x.jsonl")
    with pytest.raises(ValueError):
        rep.summarize({}, k=1)


# --- models, recipe settings, the job ----------------------------------------------------------


def test_model_kinds(tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "model.safetensors").write_bytes(b"")
    step = tmp_path / "global_step_3"
    (step / "actor").mkdir(parents=True)
    (step / "actor" / "fsdp_config.json").write_text('{"world_size": 1}')
    assert tsr_eval.classify_model(hf) == ("hf", hf)
    assert tsr_eval.classify_model(step) == ("checkpoint", step / "actor")
    assert tsr_eval.classify_model(step / "actor") == ("checkpoint", step / "actor")
    with pytest.raises(ValueError, match="neither an HF model folder"):
        tsr_eval.classify_model(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        tsr_eval.classify_model(tmp_path / "missing")


def test_converted_model_is_reused(tmp_path, monkeypatch):
    target = tmp_path / "model"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (target / "model.safetensors").write_bytes(b"")
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("merger must not run again"))
    with open(tmp_path / "eval.log", "w") as log:
        assert tsr_eval.convert_checkpoint(tmp_path / "actor", target, log) == target


def test_recipe_settings_are_read_from_the_recipe_data_files():
    from tsr_verl.cli.jobs import Recipe, cpu_size

    cpu = cpu_size(for_eval=True)
    assert "data.train_batch_size=2" in cpu and "data.max_response_length=640" in cpu
    assert not any(o.startswith("data.val_max_samples") for o in cpu)  # would cap the evaluation at 4
    assert Recipe.load("frozenlake").env_config == {"size": 4, "p": 0.8, "is_slippery": True, "success_rate": 0.8}
    assert Recipe.load("sokoban").env_config == {"dim_room": [6, 6], "num_boxes": 1}
    # WebShop's own CPU lengths (its recipe.yaml cpu_overrides) replace the shared ones.
    args = job_args("webshop", "cpu")
    assert "data.max_response_length=2048" in args and "data.max_response_length=640" not in args
    assert "data.train_batch_size=2" in args and not any(a.startswith("data.val_max_samples") for a in args)


def job_args(env: str, device: str, *extra: str, tmp: Path = Path("/tmp/eval")) -> list[str]:
    ns = parse("--model", "/m", "--env", env, *extra)
    return tsr_eval.eval_job(ns, tmp, tmp / "m", tmp / "t.parquet", device).hydra_args()


def test_default_test_seeds_come_from_the_env_splits(tmp_path):
    """Without --seed-start: FrozenLake's test seeds start at 2,000,000, WebShop's test split is
    goals 0..499 (its fixed split), never training goals."""
    assert parse("--model", "/m", "--env", "webshop").seed_start is None
    lake = pd.read_parquet(tsr_eval.write_test_split(tmp_path / "f", "frozenlake", {}, 2, None, "naive"))
    assert [r["seed"] for r in lake.extra_info] == [2_000_000, 2_000_001]
    shop = pd.read_parquet(tsr_eval.write_test_split(tmp_path / "w", "webshop", {}, 3, None, "naive"))
    assert [r["seed"] for r in shop.extra_info] == [0, 1, 2]


def parse(*argv):
    return build_parser().parse_args(["eval", *argv])


def test_job_arguments_and_test_split(tmp_path):
    ns = parse("--model", "/m", "--env", "frozenlake", "--k", "3", "--strategy", "beam", "--tsr", "beam_width=3")
    data = tsr_eval.write_test_split(tmp_path, "frozenlake", {"size": 4}, 5, 2_000_000, ns.strategy)
    df = pd.read_parquet(data)
    assert set(df.agent_name) == {"tsr_agent"}
    assert [r["seed"] for r in df.extra_info] == list(range(2_000_000, 2_000_005))
    naive = pd.read_parquet(tsr_eval.write_test_split(tmp_path / "n", "frozenlake", {}, 2, 7, "naive"))
    assert set(naive.agent_name) == {"tsr_eval"}
    args = tsr_eval.eval_job(ns, tmp_path, tmp_path / "m", data, "cpu").hydra_args()
    for expected in (
        "trainer.val_only=true",
        "trainer.val_before_train=true",
        "actor_rollout_ref.rollout.val_kwargs.n=3",
        "actor_rollout_ref.rollout.val_kwargs.temperature=0",
        "data.train_batch_size=2",
        "actor_rollout_ref.rollout.custom.tsr.strategy=beam",
        f"trainer.validation_data_dir={tmp_path / 'generations'}",
    ):
        assert expected in args
    assert args[-1] == "actor_rollout_ref.rollout.custom.tsr.beam_width=3"
    assert "data.train_batch_size=2" not in tsr_eval.eval_job(ns, tmp_path, tmp_path / "m", data, "gpu").hydra_args()
    ns_sampled = parse("--model", "/m", "--env", "sokoban", "--mode", "sampled")
    sampled = tsr_eval.eval_job(ns_sampled, tmp_path, tmp_path, data, "gpu").hydra_args()
    assert "actor_rollout_ref.rollout.val_kwargs.temperature=0.5" in sampled
    assert "--set" not in tsr_eval.eval_command(ns) and "--tsr beam_width=3" in tsr_eval.eval_command(ns)


def test_job_composes_and_preflight_catches_bad_tsr_keys(tmp_path):
    from tsr_verl.cli.launch import preflight

    ns = parse("--model", "/m", "--env", "sokoban", "--tsr", "num_candidates=2")
    cmd, _ = tsr_eval.eval_job(ns, tmp_path, tmp_path / "m", tmp_path / "t.parquet", "cpu").command()
    assert preflight(cmd) is None
    ns = parse("--model", "/m", "--env", "sokoban", "--tsr", "no_such_key=2")
    cmd, _ = tsr_eval.eval_job(ns, tmp_path, tmp_path / "m", tmp_path / "t.parquet", "cpu").command()
    assert "no_such_key" in (preflight(cmd) or "")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "atari"], "unknown environment"),
        (["--model", "MISSING"], "no such file"),
        (["--set", "bogus=1"], "bad frozenlake config"),
        (["--set", "size=-3"], "bad frozenlake config"),
        (["--episodes", "0"], "--episodes"),
        (["--tsr", "novalue"], "KEY=VALUE"),
        (["--mode", "sampled", "--temperature", "0"], "temperature"),
    ],
)
def test_bad_input_fails_before_anything_runs(tmp_path, tiny_hf, capsys, monkeypatch, argv, message):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("nothing may run"))
    base = {"--model": str(tiny_hf), "--env": "frozenlake", "--out": str(tmp_path / "out")}
    base.update(zip(argv[::2], argv[1::2], strict=True))
    if base["--model"] == "MISSING":
        base["--model"] = str(tmp_path / "missing")
    args = [x for kv in base.items() for x in kv]
    assert cli_main(["eval", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_malformed_set_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exc:
        parse("--model", "/m", "--env", "frozenlake", "--set", "novalue")
    assert exc.value.code == 2 and "key=value" in capsys.readouterr().err


@pytest.fixture
def tiny_hf(tmp_path):
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text("{}")
    (hf / "model.safetensors").write_bytes(b"")
    return hf


# --- slow: train 1 step, save, evaluate the checkpoint ---------------------------------------


@pytest.mark.slow
def test_eval_of_a_fresh_checkpoint(tmp_path, repo_root, tiny_model_dir, subprocess_env, leftovers):
    data = tmp_path / "data"
    prep = subprocess.run(
        [
            "bash",
            str(repo_root / "recipes/frozenlake/prepare_data.sh"),
            "--out",
            str(data),
            "--train",
            "2",
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
    ckpt = tmp_path / "ckpt"
    tsr = "actor_rollout_ref.rollout.custom.tsr."
    small = [f"{tsr}max_turns=2", f"{tsr}max_tokens_per_turn=16"]
    train = [
        "bash",
        str(repo_root / "recipes/frozenlake/run.sh"),
        "grpo",
        "naive",
        "--device",
        "cpu",
        *small,
        "trainer.total_training_steps=1",
        "trainer.save_freq=1",
        "trainer.test_freq=-1",
        "trainer.val_before_train=false",
        f"trainer.default_local_dir={ckpt}",
    ]
    started = time.time()
    env = subprocess_env(MODEL=str(tiny_model_dir), DATA=str(data))
    done = subprocess.run(train, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=1200)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    step = ckpt / "global_step_1"
    assert (step / "actor").is_dir()
    out = tmp_path / "eval"
    cmd = [
        str(repo_root / ".venv/bin/tsr-verl"),
        "eval",
        "--model",
        str(step),
        "--env",
        "frozenlake",
        "--episodes",
        "4",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--tsr",
        "max_turns=2",
        "--tsr",
        "max_tokens_per_turn=16",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), cwd=tmp_path, timeout=1200)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:] + (out / "eval.log").read_text()[-4000:]
    report = json.loads((out / "eval.json").read_text())
    summary = report["summary"]
    assert summary["episodes"] == 4 and summary["seeds"] == 4
    assert 0.0 <= summary["success"]["mean"] <= 1.0 and "pass@1" in summary
    assert report["model"]["kind"] == "checkpoint" and (out / "model" / "config.json").is_file()
    assert report["command"][2] == "verl.trainer.main_ppo" and "success" in done.stdout
    assert leftovers(started) == [], "Ray/vLLM processes survived the run"
