"""FrozenLake: seeded maps, slip model, rewards/termination, and fork semantics."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections import Counter, deque
from pathlib import Path

import numpy as np
import pytest

from tsr_verl.envs import make
from tsr_verl.envs.check import check_env
from tsr_verl.envs.frozenlake import FrozenLakeEnv
from tsr_verl.envs.frozenlake.config import FrozenLakeConfig

REPO = Path(__file__).resolve().parent.parent
ACTIONS = FrozenLakeEnv.actions
OPPOSITE = {"Left": "Right", "Right": "Left", "Up": "Down", "Down": "Up"}

_SUBPROCESS_SCRIPT = """
import json
from tsr_verl.envs.frozenlake import FrozenLakeEnv
out = {}
for seed in range(8):
    env = FrozenLakeEnv(size=6, p=0.8, max_steps=30)
    first = env.reset(seed)
    actual = []
    for i in range(30):
        if env.done:
            break
        actual.append(env.step(FrozenLakeEnv.actions[i % 4]).info["actual"])
    out[seed] = [first, actual]
print(json.dumps(out))
"""


def _play(env: FrozenLakeEnv, actions: list[str]) -> list[tuple]:
    """Step ``env`` through ``actions`` until done; the full outcomes plus state after each step."""
    trace = []
    for a in actions:
        if env.done:
            break
        trace.append((tuple(env.step(a)), env.player, env.steps, env.render()))
    return trace


def _random_actions(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [ACTIONS[i] for i in rng.integers(0, 4, size=n)]


def _bfs_reachable(size: int, holes: frozenset, start: tuple[int, int], goal: tuple[int, int]) -> bool:
    seen, queue = {start}, deque([start])
    while queue:
        r, c = queue.popleft()
        if (r, c) == goal:
            return True
        for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
            if 0 <= nr < size and 0 <= nc < size and (nr, nc) not in holes and (nr, nc) not in seen:
                seen.add((nr, nc))
                queue.append((nr, nc))
    return False


# --- seeding and map generation --------------------------------------------------------------------
def test_same_seed_same_map_and_slips_across_processes():
    runs = [
        subprocess.run(
            [sys.executable, "-c", _SUBPROCESS_SCRIPT], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout
        for _ in range(2)
    ]
    a, b = (json.loads(r) for r in runs)
    assert a == b
    # and the same in this process
    env = FrozenLakeEnv(size=6, p=0.8, max_steps=30)
    assert env.reset(3) == a["3"][0]
    # different seeds give different maps (start/goal/holes), and different slip sequences
    assert len({first for first, _ in a.values()}) == len(a)
    assert len({tuple(actual) for _, actual in a.values()}) > 1


def test_different_seeds_differ():
    env = FrozenLakeEnv()
    maps = {env.reset(seed) for seed in range(50)}
    assert len(maps) >= 45


@pytest.mark.parametrize("size,p", [(2, 0.5), (4, 0.8), (4, 0.5), (6, 0.3), (8, 0.5), (8, 0.9)])
def test_generated_maps_always_have_a_path(size, p):
    env = FrozenLakeEnv(size=size, p=p)
    for seed in range(1000):
        obs = env.reset(seed)
        rows = obs.split("\n")
        assert len(rows) == size and all(len(r) == size for r in rows)
        assert obs.count("P") == 1 and obs.count("G") == 1
        start, goal, holes = env.player, env.goal, env.holes
        assert start != goal and start == env.start
        assert start not in holes and goal not in holes
        assert _bfs_reachable(size, holes, start, goal), (seed, obs)
        assert env.shortest_path_length() is not None


def test_hole_density_follows_p():
    env = FrozenLakeEnv(size=8, p=0.8)
    counts = []
    for seed in range(300):
        env.reset(seed)
        counts.append(len(env.holes))
    # 62 random tiles per map; rejecting pathless maps only lowers the hole rate slightly
    assert 0.15 < np.mean(counts) / 62 < 0.22
    full = FrozenLakeEnv(size=5, p=1.0)
    for seed in range(50):
        full.reset(seed)
        assert not full.holes


# --- slip model ------------------------------------------------------------------------------------
OPEN_5 = """
_____
_____
__P__
_____
____G
"""


def _slip_counts(n: int, **cfg) -> Counter:
    env = FrozenLakeEnv.from_text(OPEN_5, **cfg)
    counts: Counter = Counter()
    for seed in range(n):
        env.reset(seed)
        info = env.step("Up").info
        assert info["intended"] == "Up"
        assert info["slipped"] == (info["actual"] != "Up")
        assert info["action_effective"]  # the player is in the middle: every move changes the cell
        counts[info["actual"]] += 1
    return counts


def test_slip_distribution_gymnasium_rule():
    n = 3000
    counts = _slip_counts(n)
    assert counts["Down"] == 0  # never the opposite direction
    for direction in ("Up", "Left", "Right"):
        assert abs(counts[direction] / n - 1 / 3) < 0.035, counts


def test_slip_distribution_success_rate():
    n = 3000
    counts = _slip_counts(n, success_rate=0.8)
    assert counts["Down"] == 0
    assert abs(counts["Up"] / n - 0.8) < 0.03, counts
    assert abs(counts["Left"] / n - 0.1) < 0.025 and abs(counts["Right"] / n - 0.1) < 0.025, counts


def test_not_slippery_always_intended_and_draws_nothing():
    env = FrozenLakeEnv.from_text(OPEN_5, is_slippery=False)
    state = copy.deepcopy(env.rng.bit_generator.state)
    for a in ["Up", "Left", "Down", "Right"] * 3:
        info = env.step(a).info
        assert info["actual"] == a and not info["slipped"]
    assert env.rng.bit_generator.state == state


def test_exactly_one_draw_per_slippery_step():
    env = FrozenLakeEnv.from_text(OPEN_5, success_rate=0.5)
    for a in ["Up", "Left", "Up", "Left"]:
        twin = copy.deepcopy(env.rng)
        twin.random()
        env.step(a)
        assert env.rng.bit_generator.state == twin.bit_generator.state


def test_transition_probs():
    env = FrozenLakeEnv.from_text(OPEN_5)  # player at (2, 2)
    probs = dict((cell, p) for p, cell in env.transition_probs("Up"))
    assert probs.keys() == {(1, 2), (2, 1), (2, 3)}
    assert all(p == pytest.approx(1 / 3) for p in probs.values())
    env = FrozenLakeEnv.from_text("P_\n_G", success_rate=0.8)
    # Left from (0, 0): intended and Up both bump the edge (stay), Down moves
    probs = dict((cell, p) for p, cell in env.transition_probs("Left"))
    assert probs == {(0, 0): pytest.approx(0.9), (1, 0): pytest.approx(0.1)}
    env = FrozenLakeEnv.from_text("P_\n_G", is_slippery=False)
    assert env.transition_probs("Right") == [(1.0, (0, 1))]
    with pytest.raises(ValueError, match="unknown action"):
        env.transition_probs("Jump")


# --- rewards, termination, errors ------------------------------------------------------------------
def test_goal_gives_reward_and_terminates():
    env = FrozenLakeEnv.from_text("P G\n_ _", is_slippery=False)
    assert env.tile(0, 1) == "G" and env.goal == (0, 1) and env.shortest_path_length() == 1
    obs, reward, terminated, truncated, info = env.step("Right")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["success"] and env.success and env.done
    assert obs == "_√\n__"
    assert env.shortest_path_length() == 0
    with pytest.raises(RuntimeError):
        env.step("Left")


def test_hole_terminates_without_success():
    env = FrozenLakeEnv.from_text("PO\n_G", is_slippery=False)
    obs, reward, terminated, truncated, info = env.step("Right")
    assert (reward, terminated, truncated) == (0.0, True, False)
    assert not info["success"] and not env.success and env.done
    assert obs == "_X\n_G"
    assert env.shortest_path_length() is None
    assert env.holes == frozenset({(0, 1)})


def test_border_bump_and_truncation():
    env = FrozenLakeEnv.from_text("P_\n_G", is_slippery=False, max_steps=3)
    first = env.render()
    for i in range(3):
        obs, reward, terminated, truncated, info = env.step("Up")
        assert not info["action_effective"] and obs == first and env.player == (0, 0)
        assert reward == 0.0 and not terminated
        assert truncated == (i == 2)
    assert env.done and not env.success and env.steps == 3
    with pytest.raises(RuntimeError, match="ended"):
        env.step("Down")
    # reset keeps the hand-made map and restarts the episode
    assert env.reset(1) == first and not env.done and env.steps == 0


def test_reaching_goal_on_last_step_is_success_not_truncation():
    env = FrozenLakeEnv.from_text("P_\n_G", is_slippery=False, max_steps=2)
    env.step("Right")
    _, reward, terminated, truncated, _ = env.step("Down")
    assert (reward, terminated, truncated) == (1.0, True, False) and env.success


def test_unknown_action_and_config_errors():
    env = FrozenLakeEnv.from_text("P_\n_G")
    with pytest.raises(ValueError, match="unknown action"):
        env.step("Jump")
    with pytest.raises(ValueError, match="unknown action"):
        env.step("left")  # parsing is done by tsr_verl.envs.parsing, step takes canonical words
    with pytest.raises(ValueError, match="sizee"):
        FrozenLakeEnv(sizee=4)
    with pytest.raises(ValueError, match="sizee"):
        make("frozenlake", sizee=4)
    for bad in [
        {"size": 1},
        {"p": 0.0},
        {"p": 1.5},
        {"success_rate": 1.2},
        {"max_steps": 0},
        {"observation_format": "image"},
        {"size": True},
    ]:
        with pytest.raises(ValueError, match="frozenlake"):
            FrozenLakeConfig(**bad)
    with pytest.raises(RuntimeError, match="reset"):
        FrozenLakeEnv().render()
    with pytest.raises(RuntimeError, match="reset"):
        FrozenLakeEnv().step("Left")
    with pytest.raises(ValueError, match="seed"):
        FrozenLakeEnv().reset(-1)


@pytest.mark.parametrize(
    "text,match",
    [("P_G\n___", "square"), ("P_\n__", "one P and one G"), ("PX\n_G", "unknown symbols"), ("P_\nGG", "one P")],
)
def test_from_text_validation(text, match):
    with pytest.raises(ValueError, match=match):
        FrozenLakeEnv.from_text(text)


def test_from_text_size_mismatch():
    with pytest.raises(ValueError, match="size=4"):
        FrozenLakeEnv.from_text("P_\n_G", size=4)


def test_grid_coord_observation_and_instructions():
    env = FrozenLakeEnv.from_text("___\n_P_\nO_G", observation_format="grid_coord")
    header, *rows = env.render().split("\n")
    assert header == "Coordinates: board size 3x3; player at (1, 1); goal at (2, 2)."
    assert rows == ["___", "_P_", "O_G"]
    assert "slippery" in env.instructions and "perpendicular" in env.instructions
    assert "slippery" not in FrozenLakeEnv(is_slippery=False).instructions
    assert all(a in env.instructions for a in ACTIONS)


def test_registry_make():
    env = make("frozenlake", size=5, p=0.9)
    assert isinstance(env, FrozenLakeEnv) and len(env.reset(0).split("\n")) == 5


# --- forks -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "cfg",
    [
        {"size": 6, "p": 0.85, "max_steps": 40},
        {"size": 5, "p": 0.85, "max_steps": 30},
        {"size": 4, "is_slippery": False},
    ],
)
def test_the_env_contract_holds(cfg):
    """Seed determinism, fork equivalence and isolation, distinct fork streams (``check_env``)."""
    check_env(FrozenLakeEnv(**cfg), seeds=range(10), steps=30)


@pytest.mark.parametrize("seed", range(10))
def test_independent_fork_matches_parent_when_not_slippery(seed):
    parent = FrozenLakeEnv(size=6, is_slippery=False, max_steps=40)
    parent.reset(seed)
    actions = _random_actions(seed, 40)
    _play(parent, actions[:2])
    fork = parent.fork()
    assert _play(fork, actions[2:]) == _play(parent, actions[2:])


def test_independent_forks_do_not_peek_but_copy_forks_do():
    """Compare the slip a fork gets with the slip the parent gets for the same action, step by step.
    Independent forks agree at the chance rate (1/3 each for Gymnasium's rule -> 1/3); copy forks
    always agree. Creating (and stepping) the forks never changes the parent's outcomes."""
    cfg = {"size": 8, "p": 1.0, "max_steps": 1000}
    agree = {"independent": 0, "copy": 0}
    n = 0
    seed = 0
    parent, twin = FrozenLakeEnv(**cfg), FrozenLakeEnv(**cfg)
    parent.reset(seed)
    twin.reset(seed)
    actions = _random_actions(7, 600)
    for a in actions:
        if parent.done:
            seed += 1
            parent.reset(seed)
            twin.reset(seed)
        forks = {mode: parent.fork(rng=mode) for mode in agree}
        fork_actual = {mode: f.step(a).info["actual"] for mode, f in forks.items()}
        result = parent.step(a)
        assert tuple(result) == tuple(twin.step(a))
        n += 1
        for mode in agree:
            agree[mode] += fork_actual[mode] == result.info["actual"]
    assert n == 600
    assert agree["copy"] == n
    assert 0.25 < agree["independent"] / n < 0.42, agree


def test_independent_forks_are_reproducible():
    env = FrozenLakeEnv(size=8, p=1.0)
    env.reset(5)

    def slips() -> list[str]:
        env.reset(5)
        return [env.fork().step(a).info["actual"] for a in ["Up"] * 50]

    assert slips() == slips()


def test_fork_shares_the_map():
    env = FrozenLakeEnv()
    env.reset(0)
    fork = env.fork()
    assert fork._board is env._board
    assert isinstance(env._board.rows, tuple)
    with pytest.raises(AttributeError):
        env._board.rows = ()  # type: ignore[misc]
    with pytest.raises(ValueError, match="rng"):
        env.fork(rng="peek")  # type: ignore[arg-type]
