"""Parquet episode datasets: schema, disjoint seeds, atomic writes, the CLI, and veRL loading them."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from tsr_verl.envs import EnvSpec, make_from_spec
from tsr_verl.envs.datasets import plan_splits, write_splits


def test_splits_have_verl_columns_and_disjoint_seeds(tmp_path):
    paths = write_splits(tmp_path, "sokoban", {"dim_room": [6, 6]}, {"train": 12, "val": 4, "test": 5}, progress=False)
    frames = {name: pd.read_parquet(paths[name]) for name in ("train", "val", "test")}
    for name, df in frames.items():
        assert {"data_source", "agent_name", "prompt", "ability", "reward_model", "extra_info"} <= set(df.columns)
        assert set(df.agent_name) == {"tsr_agent" if name == "train" else "tsr_eval"}
        assert [r["index"] for r in df.extra_info] == list(range(len(df)))
    seeds = {name: {r["seed"] for r in df.extra_info} for name, df in frames.items()}
    assert seeds["train"] == set(range(12)) and seeds["val"] == set(range(1_000_000, 1_000_004))
    assert not (seeds["train"] & seeds["val"]) and not (seeds["val"] & seeds["test"])
    # The stored prompt is the episode rebuilt from the row's env spec.
    row = frames["val"].iloc[2]
    env, obs = make_from_spec(dict(row.extra_info["env"]))
    assert env.config.dim_room == (6, 6)
    assert obs in row.prompt[1]["content"] and row.prompt[0]["role"] == "system"
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["splits"]["test"] == {"size": 5, "start_seed": 2_000_000, "agent_name": "tsr_eval"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_overlapping_seed_ranges_are_refused_before_writing(tmp_path):
    with pytest.raises(ValueError, match="seed ranges overlap: train .* val"):
        write_splits(tmp_path, "frozenlake", None, {"train": 10, "val": 3}, {"val": 5}, progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="frozenlake: unknown config key"):
        write_splits(tmp_path, "frozenlake", {"sise": 4}, {"train": 1}, progress=False)
    with pytest.raises(ValueError, match="size must be >= 0"):
        plan_splits({"train": -1})


def test_existing_files_survive_a_failed_write(tmp_path):
    paths = write_splits(tmp_path, "frozenlake", None, {"train": 3}, progress=False)
    before = paths["train"].read_bytes()
    with pytest.raises(ValueError):
        write_splits(tmp_path, "frozenlake", {"p": 2.0}, {"train": 3}, progress=False)
    assert paths["train"].read_bytes() == before


def test_cli_make_data(tmp_path, subprocess_env):
    cmd = [
        sys.executable,
        "-m",
        "tsr_verl.cli.main",
        "make-data",
        "frozenlake",
        "--out",
        str(tmp_path),
        "--train",
        "6",
        "--val",
        "2",
        "--test",
        "0",
        "--set",
        "size=5",
        "--set",
        "success_rate=0.8",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=subprocess_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "train.parquet", "val.parquet"]
    spec = EnvSpec.from_row(dict(pd.read_parquet(tmp_path / "train.parquet").extra_info[0]["env"]))
    assert spec.config == {"size": 5, "success_rate": 0.8}
    bad = subprocess.run(
        cmd[:-4] + ["--seed-start", "val=3"], capture_output=True, text=True, env=subprocess_env(), timeout=120
    )
    assert bad.returncode == 2 and "seed ranges overlap" in bad.stderr


def test_verl_rl_dataset_reads_the_files(tmp_path, smollm2_tokenizer_dir):
    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.utils.dataset.rl_dataset import RLHFDataset

    paths = write_splits(tmp_path, "sokoban", None, {"train": 4}, progress=False)
    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    config = OmegaConf.create(
        {"max_prompt_length": 1024, "filter_overlong_prompts": True, "cache_dir": str(tmp_path / "cache")}
    )
    dataset = RLHFDataset(str(paths["train"]), tokenizer, config)
    assert len(dataset) == 4  # nothing filtered as overlong
    item = dataset[1]
    assert item["agent_name"] == "tsr_agent" and item["raw_prompt"][1]["role"] == "user"
    assert EnvSpec.from_row(dict(item["extra_info"]["env"])).seed == 1
