"""WebShop from veRL: datasets on its fixed goal splits, the ``tsr-verl webshop`` CLI, and the
``recipes/webshop`` recipe (scripts, YAML, CPU overrides, what a row's prompt holds).

No Ray, no model weights: jobs are built in-process with ``tsr_verl.cli.jobs.recipe_job`` (what
``run.sh`` -> ``tsr-verl run`` builds), the CPU launcher's additions included.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from tsr_verl.cli import launch
from tsr_verl.cli import main as cli
from tsr_verl.cli.jobs import recipe_job
from tsr_verl.envs import make, make_from_spec
from tsr_verl.envs.datasets import plan_splits, write_splits
from tsr_verl.envs.parsing import ParseConfig, parse_turn
from tsr_verl.integration.loop_config import TSRConfig
from tsr_verl.search.config import STRATEGIES

pytestmark = pytest.mark.filterwarnings("ignore:Disabled critic:UserWarning")

RANGES = {"test": range(0, 500), "val": range(500, 1500), "train": range(1500, 1860)}
"""WebShop's fixed splits on the default synthetic:200 catalog (1860 synthetic goals)."""
COMBOS = list(itertools.product(("grpo", "ppo"), STRATEGIES))


# --- the generic split hook -----------------------------------------------------------------------
def test_env_seed_ranges_set_default_starts_and_user_starts_win():
    splits = {s.name: s for s in plan_splits({"train": 10, "val": 5, "test": 5}, seed_ranges=RANGES)}
    assert (splits["train"].start_seed, splits["val"].start_seed, splits["test"].start_seed) == (1500, 500, 0)
    splits = {s.name: s for s in plan_splits({"train": 3, "val": 2}, {"train": 1800}, seed_ranges=RANGES)}
    assert (splits["train"].start_seed, splits["val"].start_seed) == (1800, 500)
    # Without ranges (FrozenLake, Sokoban) nothing changes.
    assert [s.start_seed for s in plan_splits({"train": 1, "val": 1, "test": 1})] == [0, 1_000_000, 2_000_000]
    assert make("frozenlake").seed_splits() is None


@pytest.mark.parametrize(
    ("sizes", "starts", "message"),
    [
        (
            {"train": 361},
            None,
            r"split 'train': 361 episodes need seeds 1500..1860, but shop's train split has "
            r"only 360 \(seeds 1500..1859\); ask for at most 360 \(--train 360\)",
        ),
        ({"test": 501}, None, r"split 'test': .* test split has only 500 \(seeds 0..499\)"),
        (
            {"train": 20},
            {"train": 1850},
            r"split 'train': 20 episodes need seeds 1850..1869, but shop has only "
            r"1860 episodes \(seeds 0..1859\)",
        ),
    ],
)
def test_splits_past_the_env_ranges_are_refused(sizes, starts, message):
    with pytest.raises(ValueError, match=message):
        plan_splits(sizes, starts, seed_ranges=RANGES, env_name="shop")


def test_webshop_env_reports_its_goal_splits():
    env = make("webshop")
    assert env.seed_splits() == RANGES
    mixed = make("webshop", goals="both")
    both = mixed.seed_splits()
    assert both["test"].start == 0 and both["val"].start == both["test"].stop  # each kind's 500 test goals
    assert both["train"].start == both["val"].stop and both["train"].stop == len(mixed.world.goals)


def test_make_data_uses_the_goal_splits_and_names_the_split_when_short(tmp_path):
    paths = write_splits(
        tmp_path / "ok",
        "webshop",
        {"max_steps": 9},
        {"train": 3, "val": 2, "test": 2},
        max_actions=9,
        parse=ParseConfig(max_actions_per_turn=1),
        progress=False,
    )
    seeds = {name: [r["seed"] for r in pd.read_parquet(paths[name]).extra_info] for name in ("train", "val", "test")}
    assert seeds == {"train": [1500, 1501, 1502], "val": [500, 501], "test": [0, 1]}
    manifest = json.loads(paths["manifest"].read_text())
    assert manifest["splits"]["train"]["start_seed"] == 1500
    # Too many training episodes for the catalog: refused before anything is written.
    code = cli.main(
        ["make-data", "webshop", "--out", str(tmp_path / "bad"), "--train", "400", "--val", "0", "--test", "0"]
    )
    assert code == 2 and not (tmp_path / "bad").exists()


def test_make_data_error_message_names_split_and_count(tmp_path, capsys):
    assert cli.main(["make-data", "webshop", "--out", str(tmp_path), "--train", "400"]) == 2
    err = capsys.readouterr().err
    assert "split 'train'" in err and "has only 360" in err and "--train 360" in err


# --- the CLI ------------------------------------------------------------------------------------------
def test_cli_webshop_help(subprocess_env):
    done = subprocess.run(
        [sys.executable, "-m", "tsr_verl.cli.main", "webshop", "--help"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "download" in done.stdout and "convert" in done.stdout
    assert "webshop" in cli.__doc__ and "webshop" in cli.build_parser().format_help()


def test_cli_webshop_convert_on_a_synthetic_catalog(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TSR_VERL_CACHE", str(tmp_path / "cache"))
    assert cli.main(["webshop", "convert", "--data-dir", "synthetic:30", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "30 products" in out and "'synthetic':" in out and "'human':" in out
    assert (tmp_path / "cache" / "webshop" / "synthetic-30").is_dir()
    # A missing data folder: exit 2 and the command that fixes it.
    assert cli.main(["webshop", "convert", "--data-dir", str(tmp_path / "none"), "--no-progress"]) == 2
    assert "tsr-verl webshop download --tier small" in capsys.readouterr().err


# --- parsing WebShop answers ------------------------------------------------------------------------
def test_parser_accepts_search_and_buy_now_answers():
    env = make("webshop", max_steps=9)
    env.reset(1500)
    think, bare = ParseConfig(max_actions_per_turn=1), ParseConfig(max_actions_per_turn=1, enable_think=False)
    parsed = parse_turn("<think>find it</think><answer>search[red shoes]</answer>", env.match_action, think)
    assert parsed.actions == ("search[red shoes]",) and parsed.penalty == 0.0
    assert parse_turn("<answer>search[red shoes]</answer>", env.match_action, bare).actions == ("search[red shoes]",)
    assert parse_turn("<answer>click[buy now]</answer>", env.match_action, bare).actions == ()  # not on this page
    env.step("search[red shoes]")
    env.step(next(a for a in env.available_actions() if a.startswith("click[b0")))  # open a product
    parsed = parse_turn("<answer>click[Buy Now]</answer>", env.match_action, bare)
    assert parsed.actions == ("click[buy now]",) and parsed.penalty == 0.0
    # Only the first action of an answer counts (1 per turn); the rest is dropped, not penalised.
    parsed = parse_turn("<think>x</think><answer>click[buy now] || click[< prev]</answer>", env.match_action, think)
    assert parsed.actions == ("click[buy now]",) and parsed.dropped == 1


# --- the recipe ---------------------------------------------------------------------------------------
def script(repo_root: Path, name: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(repo_root / "recipes" / "webshop" / name), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=repo_root,
    )


def built(device: str, algo: str, strategy: str, overrides=(), recipe: str = "webshop") -> list[str]:
    """``main_ppo``'s Hydra arguments of ``run.sh ALGO STRATEGY --device DEVICE`` (MODEL=/models/m)."""
    job = recipe_job(recipe, algo, strategy, device, "/models/m", Path("/data") / recipe, list(overrides))
    return launch.hydra_part(job.command()[0])


def compose(args: list[str]):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--"))
    overrides = [a for a in args if not a.startswith("--")]
    with initialize_config_dir(config_dir=flags["config-path"], version_base=None):
        return hydra_compose(config_name=flags["config-name"], overrides=overrides)


@pytest.fixture(scope="module")
def jobs() -> dict[tuple[str, str, str], list[str]]:
    """``main_ppo`` arguments for every (device, algo, strategy), as ``tsr-verl run`` builds them."""
    return {
        (device, algo, strategy): built(device, algo, strategy)
        for device, (algo, strategy) in itertools.product(("gpu", "cpu"), COMBOS)
    }


def tsr_config(cfg) -> TSRConfig:
    return TSRConfig.from_dict(OmegaConf.to_container(cfg.actor_rollout_ref.rollout.custom.tsr, resolve=True))


@pytest.mark.parametrize("device", ["gpu", "cpu"])
def test_every_combination_composes_and_fits(jobs, device):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass
    from verl.workers.config import RolloutConfig

    from tsr_verl.search.scorers import get_scorer

    for algo, strategy in COMBOS:
        cfg = compose(jobs[device, algo, strategy])
        assert need_critic(cfg) is (algo == "ppo") and need_reference_policy(cfg) is False
        assert cfg.trainer.experiment_name == f"webshop_{cfg.algorithm.adv_estimator}_{strategy}"
        rollout = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout)
        assert isinstance(rollout, RolloutConfig)
        assert rollout.prompt_length + rollout.response_length <= rollout.max_model_len
        actor, n = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout.n
        assert actor.ppo_mini_batch_size * n % actor.ppo_micro_batch_size_per_gpu == 0
        search = tsr_config(cfg).search
        assert search.strategy == strategy and search.resolved_scorer == "env_progress"
        get_scorer(search.resolved_scorer)


def test_gpu_defaults_are_the_papers_webshop_settings(jobs, repo_root):
    cfg = compose(jobs["gpu", "grpo", "naive"])
    rollout, actor = cfg.actor_rollout_ref.rollout, cfg.actor_rollout_ref.actor
    assert cfg.actor_rollout_ref.model.path == "/models/m"  # MODEL=; the YAML's placeholder is the 3B model
    assert (cfg.data.train_batch_size, rollout.n, actor.ppo_mini_batch_size * rollout.n) == (8, 16, 32)
    assert (rollout.max_model_len, actor.ppo_micro_batch_size_per_gpu) == (15000, 1)
    filtering = cfg.algorithm.reward_variance_filtering
    assert filtering.enable and filtering.top_k_ratio == 0.25
    episode = tsr_config(cfg).episode
    assert (episode.max_turns, episode.max_actions, episode.parse.max_actions_per_turn) == (9, 9, 1)
    yaml = OmegaConf.load(repo_root / "recipes" / "webshop" / "config" / "tsr_webshop.yaml")
    assert yaml.actor_rollout_ref.model.path == "Qwen/Qwen2.5-3B-Instruct"


def test_cpu_overrides_lengthen_responses_and_user_overrides_still_win(jobs):
    cfg = compose(jobs["cpu", "grpo", "beam"])
    assert (cfg.data.train_batch_size, cfg.actor_rollout_ref.rollout.n) == (2, 4)  # the shared CPU size
    assert (cfg.data.max_prompt_length, cfg.data.max_response_length) == (768, 2048)
    assert cfg.actor_rollout_ref.rollout.max_model_len == 2816
    user = ["data.max_response_length=1024", "actor_rollout_ref.rollout.max_model_len=1792"]
    cfg = compose(built("cpu", "grpo", "beam", user))
    assert (cfg.data.max_response_length, cfg.actor_rollout_ref.rollout.max_model_len) == (1024, 1792)
    # Other recipes are untouched by WebShop's cpu_overrides.
    assert "data.max_response_length=2048" not in built("cpu", "grpo", "naive", recipe="sokoban")


def test_prepare_data_default_train_size_follows_the_catalog(repo_root, tmp_path):
    def args(*extra: str) -> list[str]:
        stub = tmp_path / "tsr-verl"  # prints the make-data arguments after --recipe expansion
        stub.write_text(
            f"#!{sys.executable}\nimport sys\nfrom tsr_verl.cli.main import expand_recipe\n"
            "print('\\n'.join(expand_recipe(sys.argv[1:])))\n"
        )
        stub.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if k not in launch.CPU_ENV}
        proc = script(repo_root, "prepare_data.sh", list(extra), {**env, "TSR_VERL": str(stub)})
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    def last(argv: list[str], flag: str) -> str:
        return argv[len(argv) - 1 - argv[::-1].index(flag) + 1]

    default = args()
    assert last(default, "--train") == "360" and last(default, "--max-actions") == "9"
    assert last(default, "--max-actions-per-turn") == "1" and "data_dir=synthetic:200" in default
    assert last(args("--set", "data_dir=/data/webshop/small", "--set", "tier=small"), "--train") == "1600"
    assert last(args("--set", "data_dir=/d", "--train", "8"), "--train") == "8"  # the user's size wins
    assert last(args("--set", "data_dir=synthetic:1000"), "--train") == "360"


def test_prepare_data_writes_rows_the_yaml_agrees(repo_root, subprocess_env, jobs, tmp_path, smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    proc = script(
        repo_root,
        "prepare_data.sh",
        ["--out", str(tmp_path), "--train", "4", "--val", "2", "--test", "2"],
        subprocess_env(),
    )
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["env_config"] == {"data_dir": "synthetic:200", "max_steps": 9}
    assert {k: v["start_seed"] for k, v in manifest["splits"].items()} == {"train": 1500, "val": 500, "test": 0}
    episode = tsr_config(compose(jobs["gpu", "grpo", "naive"])).episode
    assert manifest["max_actions"] == episode.max_actions == 9
    assert manifest["parse"]["max_actions_per_turn"] == episode.parse.max_actions_per_turn == 1
    row = pd.read_parquet(tmp_path / "train.parquet").iloc[0]
    system, user = row.prompt[0]["content"], row.prompt[1]["content"]
    env, obs = make_from_spec(dict(row.extra_info["env"]))
    assert "WebShop" in system and "up to 1 action(s) per turn" in system
    assert user.startswith("Turn 1:\nState:\n") and obs in user and "Instruction:" in user
    assert "Available actions: search[<your query>]" in user and "You have 9 actions left" in user
    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    text = tokenizer.apply_chat_template(list(row.prompt), add_generation_prompt=True, tokenize=False)
    assert len(tokenizer(text)["input_ids"]) < compose(jobs["cpu", "grpo", "naive"]).data.max_prompt_length


def test_scripts_and_readme(repo_root):
    assert 'run webshop "$@"' in (repo_root / "recipes" / "webshop" / "run.sh").read_text()
    assert "make-data --recipe webshop" in (repo_root / "recipes" / "webshop" / "prepare_data.sh").read_text()
    readme = (repo_root / "recipes" / "webshop" / "README.md").read_text()
    for algo, strategy in COMBOS:
        assert f"recipes/webshop/run.sh {algo} {strategy}\n" in readme, (algo, strategy)
    assert "tsr-verl webshop download --tier small" in readme and "synthetic:200" in readme
