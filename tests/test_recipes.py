"""The FrozenLake and Sokoban recipes (``recipes/<env>/``): for every ALGO x STRATEGY, the job
``run.sh`` builds composes, passes veRL's own config checks and carries a valid TSR config;
invalid choices fail with a usage message; ``prepare_data.sh`` writes data the YAML agrees with.

No Ray, no model weights, no GPU. Jobs are built in-process with ``tsr_verl.cli.jobs.recipe_job``
(what ``run.sh`` -> ``tsr-verl run`` builds; a real ``--dry-run`` composes the config and imports
veRL, ~6 s a call), and two real ``run.sh --dry-run`` calls check that this is exactly what the
scripts print.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from tsr_verl.cli import launch
from tsr_verl.cli.jobs import recipe_job
from tsr_verl.integration.loop_config import TSRConfig
from tsr_verl.search.config import STRATEGIES

pytestmark = pytest.mark.filterwarnings("ignore:Disabled critic:UserWarning")

RECIPES = ("frozenlake", "sokoban")
ESTIMATORS = {"grpo": "grpo", "ppo": "gae"}
DEVICES = ("gpu", "cpu")
COMBOS = list(itertools.product(ESTIMATORS, STRATEGIES))


def run_sh(repo_root: Path, env_name: str, args, env: dict[str, str]) -> subprocess.CompletedProcess:
    script = repo_root / "recipes" / env_name / "run.sh"
    return subprocess.run(["bash", str(script), *args], env=env, capture_output=True, text=True, cwd=repo_root)


def built(env_name: str, device: str, algo: str, strategy: str, model: str, data: Path, overrides=()) -> list[str]:
    """``main_ppo``'s Hydra arguments of ``run.sh ALGO STRATEGY --device DEVICE [overrides]``."""
    cmd, _ = recipe_job(env_name, algo, strategy, device, model, data, list(overrides)).command()
    return launch.hydra_part(cmd)


@pytest.fixture(scope="session")
def jobs(repo_root, tiny_model_dir) -> dict[tuple[str, str, str, str], list[str]]:
    """``main_ppo`` arguments for every (env, device, algo, strategy), as ``tsr-verl run`` builds them."""
    return {
        (env_name, device, algo, strategy): built(
            env_name, device, algo, strategy, str(tiny_model_dir), repo_root / "data" / env_name
        )
        for env_name, device, (algo, strategy) in itertools.product(RECIPES, DEVICES, COMBOS)
    }


def compose(args: list[str]):
    """The config ``main_ppo`` composes from these arguments."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    flags = dict(a[2:].split("=", 1) for a in args if a.startswith("--"))
    overrides = [a for a in args if not a.startswith("--")]
    with initialize_config_dir(config_dir=flags["config-path"], version_base=None):
        return hydra_compose(config_name=flags["config-name"], overrides=overrides)


def tsr_config(cfg) -> TSRConfig:
    return TSRConfig.from_dict(OmegaConf.to_container(cfg.actor_rollout_ref.rollout.custom.tsr, resolve=True))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("env_name", RECIPES)
def test_every_combination_composes_and_passes_verl_checks(jobs, env_name, device):
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config
    from verl.workers.config import RolloutConfig

    for algo, strategy in COMBOS:
        cfg = compose(jobs[env_name, device, algo, strategy])
        assert cfg.algorithm.adv_estimator == ESTIMATORS[algo]
        assert need_critic(cfg) is (algo == "ppo")
        assert need_reference_policy(cfg) is False  # no KL: no reference model
        assert tsr_config(cfg).search.strategy == strategy
        assert cfg.trainer.experiment_name == f"{env_name}_{ESTIMATORS[algo]}_{strategy}"
        rollout = omega_conf_to_dataclass(cfg.actor_rollout_ref.rollout)
        assert isinstance(rollout, RolloutConfig) and rollout.custom["tsr"]["strategy"] == strategy
        assert rollout.prompt_length + rollout.response_length <= rollout.max_model_len
        # main_ppo's own check before Ray starts. Its critic part loads the tokenizer (~1 s) and
        # does not depend on the strategy, so it runs once per algorithm.
        validate_config(cfg, use_reference_policy=False, use_critic=need_critic(cfg) and strategy == "naive")
        # Mini-batches (in prompts; veRL multiplies by n) split the step; micro-batches split them.
        actor, n = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout.n
        assert cfg.data.train_batch_size % actor.ppo_mini_batch_size == 0
        assert actor.ppo_mini_batch_size * n % actor.ppo_micro_batch_size_per_gpu == 0
        assert actor.ppo_mini_batch_size * n % cfg.critic.ppo_micro_batch_size_per_gpu == 0


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("env_name", RECIPES)
def test_combinations_are_one_flag_apart(jobs, env_name, device):
    for (a1, s1), (a2, s2) in itertools.combinations(COMBOS, 2):
        if a1 != a2 and s1 != s2:
            continue
        x, y = jobs[env_name, device, a1, s1], jobs[env_name, device, a2, s2]
        assert len(x) == len(y)
        assert sum(u != v for u, v in zip(x, y, strict=True)) == 1, (a1, s1, a2, s2)


@pytest.mark.parametrize("env_name", RECIPES)
def test_gpu_defaults_are_the_papers(jobs, env_name):
    from tsr_verl.search.scorers import get_scorer

    cfg = compose(jobs[env_name, "gpu", "grpo", "naive"])
    actor, rollout = cfg.actor_rollout_ref.actor, cfg.actor_rollout_ref.rollout
    assert (cfg.data.train_batch_size, rollout.n) == (8, 16)
    assert actor.ppo_mini_batch_size * rollout.n == 32 and actor.ppo_micro_batch_size_per_gpu == 4
    assert (actor.optim.lr, cfg.critic.optim.lr, actor.entropy_coeff) == (1e-6, 1e-5, 0.001)
    assert (actor.clip_ratio_low, actor.clip_ratio_high) == (0.2, 0.28)
    assert (cfg.algorithm.gamma, cfg.algorithm.lam) == (1.0, 1.0)
    assert not actor.use_kl_loss and not cfg.algorithm.use_kl_in_reward
    assert rollout.temperature == 1.0
    assert (rollout.val_kwargs.temperature, rollout.val_kwargs.do_sample) == (0.5, True)
    assert rollout.agent.default_agent_loop == "tsr_agent"
    assert (cfg.trainer.total_training_steps, cfg.trainer.test_freq, cfg.trainer.val_before_train) == (200, 10, True)
    tsr = tsr_config(cfg)
    search, episode = tsr.search, tsr.episode
    assert (search.num_candidates, search.beam_width, search.lookahead_depth) == (4, 2, 2)
    assert (episode.max_turns, episode.max_actions, episode.parse.max_actions_per_turn) == (5, 10, 2)
    assert episode.parse.format_penalty == -0.1 and tsr.max_tokens_per_turn == 400
    for strategy in STRATEGIES:
        scorer = tsr_config(compose(jobs[env_name, "gpu", "grpo", strategy])).search.resolved_scorer
        get_scorer(scorer)  # registered
        if env_name == "frozenlake":
            assert scorer == "frozenlake_risk"
        else:  # the per-turn env reward (summed over the simulated turns for lookahead)
            assert scorer == ("return_to_go" if strategy == "lookahead" else "env_reward")


@pytest.mark.parametrize("case", [("frozenlake", "cpu", "ppo", "lookahead"), ("sokoban", "gpu", "grpo", "beam")])
def test_real_dry_run_prints_the_same_job(repo_root, subprocess_env, jobs, tiny_model_dir, case):
    env_name, device, algo, strategy = case
    env = subprocess_env(MODEL=str(tiny_model_dir))
    proc = run_sh(repo_root, env_name, [algo, strategy, "--device", device, "--dry-run"], env)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout.strip().splitlines()[-1].split()
    assert printed[1:3] == ["-m", "verl.trainer.main_ppo"]
    assert printed[3:] == jobs[case]


def test_cpu_run_is_small_and_user_overrides_win(tmp_path):
    cfg = compose(built("sokoban", "cpu", "grpo", "naive", "/models/m", tmp_path, ["trainer.total_training_steps=5"]))
    assert cfg.trainer.total_training_steps == 5
    assert (cfg.data.train_batch_size, cfg.actor_rollout_ref.rollout.n, cfg.data.val_max_samples) == (2, 4, 4)
    assert cfg.actor_rollout_ref.model.path == "/models/m" and cfg.trainer.device == "cpu"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "the following arguments are required: algo, strategy"),
        (["dpo", "naive"], "invalid choice: 'dpo'"),
        (["grpo", "greedy"], "invalid choice: 'greedy'"),
        (["ppo", "beam", "--device", "tpu"], "invalid choice: 'tpu'"),
    ],
)
def test_invalid_choices_fail_with_usage(repo_root, subprocess_env, args, message):
    proc = run_sh(repo_root, "frozenlake", args, subprocess_env())
    assert proc.returncode == 2 and proc.stdout == ""
    assert message in proc.stderr and "usage:" in proc.stderr


def test_missing_data_is_reported_before_launch(repo_root, subprocess_env, tmp_path):
    env = subprocess_env(MODEL="/models/m", DATA=str(tmp_path / "none"))
    proc = run_sh(repo_root, "sokoban", ["grpo", "naive"], env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "prepare_data.sh first" in proc.stderr


def test_scripts_call_the_one_job_runner(repo_root):
    for env_name in RECIPES:
        assert f'run {env_name} "$@"' in (repo_root / "recipes" / env_name / "run.sh").read_text()
        assert f"make-data --recipe {env_name}" in (repo_root / "recipes" / env_name / "prepare_data.sh").read_text()


def test_no_python_module_reads_a_shell_script_for_settings(repo_root):
    reads = re.compile(r"""\.sh['"]\s*\)?\s*\.read_text|open\([^)]*\.sh['"]|shlex\.split""")
    offenders = [str(p) for p in (repo_root / "tsr_verl").rglob("*.py") if reads.search(p.read_text())]
    assert not offenders, offenders


@pytest.mark.parametrize("env_name", RECIPES)
def test_readme_lists_every_combination(repo_root, env_name):
    readme = (repo_root / "recipes" / env_name / "README.md").read_text()
    for algo, strategy in COMBOS:
        assert f"recipes/{env_name}/run.sh {algo} {strategy}\n" in readme, (algo, strategy)


ENV_SETTINGS = {
    "frozenlake": {"size": 4, "p": 0.8, "is_slippery": True, "success_rate": 0.8},
    "sokoban": {"dim_room": [6, 6], "num_boxes": 1},
}


@pytest.mark.parametrize("env_name", RECIPES)
def test_prepare_data_writes_splits_the_yaml_agrees_with(repo_root, subprocess_env, jobs, tmp_path, env_name):
    import pandas as pd

    script = repo_root / "recipes" / env_name / "prepare_data.sh"
    proc = subprocess.run(
        ["bash", str(script), "--out", str(tmp_path / "d"), "--train", "8", "--val", "4", "--test", "4"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    for split, size, agent in [("train", 8, "tsr_agent"), ("val", 4, "tsr_eval"), ("test", 4, "tsr_eval")]:
        rows = pd.read_parquet(tmp_path / "d" / f"{split}.parquet")
        assert len(rows) == size and set(rows.agent_name) == {agent}
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    assert manifest["env"] == env_name and manifest["env_config"] == ENV_SETTINGS[env_name]
    # The budgets written into the turn-1 prompt are the ones the agent loop enforces.
    episode = tsr_config(compose(jobs[env_name, "gpu", "grpo", "naive"])).episode
    assert manifest["max_actions"] == episode.max_actions
    assert manifest["parse"]["max_actions_per_turn"] == episode.parse.max_actions_per_turn
    assert manifest["parse"]["action_sep"] == episode.parse.action_sep
