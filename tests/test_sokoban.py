"""Sokoban: reproducible generation, fork equivalence, solvability of generated rooms (checked by
replaying the solver's plan), RAGEN's reward rules on hand-made rooms, deadlocks, config errors."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import deque

import numpy as np
import pytest

from tsr_verl.envs import make
from tsr_verl.envs.check import check_env
from tsr_verl.envs.sokoban import SokobanEnv
from tsr_verl.envs.sokoban.config import SokobanConfig
from tsr_verl.envs.sokoban.generate import generate_room
from tsr_verl.envs.sokoban.room import Room
from tsr_verl.envs.sokoban.solver import dead_squares, is_corner_deadlock, solve

BIG = {"dim_room": (8, 8), "num_boxes": 2}


def _neighbours(rc: tuple[int, int]) -> set[tuple[int, int]]:
    r, c = rc
    return {(r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)}


# --- reproducibility ---------------------------------------------------------------------------------
def test_same_seed_same_room_in_another_process(repo_root) -> None:
    seeds = [0, 1, 7, 123, 99991]
    code = (
        "import json; from tsr_verl.envs import make\n"
        f"seeds = {seeds!r}\n"
        "print(json.dumps([make('sokoban').reset(s) for s in seeds]"
        " + [make('sokoban', dim_room=[8, 8], num_boxes=2).reset(s) for s in seeds]))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True, check=True)
    expected = [make("sokoban").reset(s) for s in seeds] + [make("sokoban", **BIG).reset(s) for s in seeds]
    assert json.loads(out.stdout) == expected


def test_reset_depends_only_on_the_seed() -> None:
    env = make("sokoban")
    first = env.reset(5)
    env.step("Up")
    env.reset(6)
    assert env.reset(5) == first == make("sokoban").reset(5)
    rooms = {make("sokoban").reset(s) for s in range(50)}
    assert len(rooms) >= 45  # different seeds give (almost always) different rooms


# --- forks ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [{}, BIG])
def test_the_env_contract_holds(cfg: dict) -> None:
    """Seed determinism, fork equivalence and isolation, distinct fork streams (``check_env``)."""
    check_env(make("sokoban", **cfg), seeds=range(6), steps=20)


def test_a_fork_stepped_alone_leaves_the_parent_untouched() -> None:
    env = make("sokoban", **BIG)
    env.reset(3)
    before = (env.render(), env.room, env.steps, env.boxes, env.player, env.done)
    fork = env.fork()
    plan = fork.optimal_solution()
    assert plan
    for a in plan:
        fork.step(a)
    assert fork.success and fork.done
    assert (env.render(), env.room, env.steps, env.boxes, env.player, env.done) == before
    env.step(plan[0])  # and the parent still plays normally
    assert env.steps == 1


def _bfs_optimum(env: SokobanEnv) -> int | None:
    """Fewest moves to success by brute-force BFS over forks (independent of the solver)."""
    queue = deque([(env.fork(), 0)])
    seen = {env.render()}
    while queue:
        node, depth = queue.popleft()
        for a in node.actions:
            child = node.fork()
            obs, _, terminated, _, _ = child.step(a)
            if terminated:
                return depth + 1
            if obs not in seen:
                seen.add(obs)
                queue.append((child, depth + 1))
    return None


@pytest.mark.parametrize(("cfg", "seeds"), [({}, range(40)), (BIG, range(4))])
def test_solver_is_optimal(cfg: dict, seeds: range) -> None:
    for seed in seeds:
        env = make("sokoban", max_steps=10_000, **cfg)
        env.reset(seed)
        assert env.optimal_solution_length() == _bfs_optimum(env), seed


# --- generated rooms are solvable ---------------------------------------------------------------------
def _replay_solution(env: SokobanEnv) -> None:
    n_boxes = len(env.targets)
    assert env.boxes_on_target < n_boxes and not env.success  # never starts solved
    plan = env.optimal_solution()
    assert plan is not None and len(plan) >= 1
    total = 0.0
    for i, a in enumerate(plan):
        _, reward, terminated, truncated, info = env.step(a)
        total += reward
        assert not truncated
        assert terminated == (i == len(plan) - 1) == info["success"]
    assert env.success and env.done
    assert total == pytest.approx(-0.1 * len(plan) + n_boxes + 10.0)


@pytest.mark.parametrize(
    ("cfg", "seeds"),
    [({}, range(500)), (BIG, range(60)), ({**BIG, "search_depth": 10}, range(40)), ({"num_boxes": 2}, range(40))],
)
def test_generated_rooms_are_solvable(cfg: dict, seeds: range) -> None:
    env = make("sokoban", **cfg)
    for seed in seeds:
        env.reset(seed)
        assert not env.boxes & env.targets  # every box starts off target
        _replay_solution(env)


def test_tiny_search_budget_still_displaces_every_box() -> None:
    rng = np.random.default_rng(0)
    for _ in range(30):
        room = generate_room(rng, (8, 8), num_boxes=2, search_depth=1)
        assert room.boxes.isdisjoint(room.targets) and len(room.boxes) == 2


def test_without_random_moves_the_player_starts_next_to_a_box() -> None:
    """Reverse play ends right after a pull, so the player stands next to the pulled box."""
    env = make("sokoban", max_random_player_moves=0)
    for seed in range(30):
        env.reset(seed)
        assert _neighbours(env.player) & env.boxes


def test_impossible_room_raises() -> None:
    env = make("sokoban", dim_room=(4, 4))  # a 2x2 interior leaves no room to pull a box
    with pytest.raises(RuntimeError, match="could not generate"):
        env.reset(0)


# --- rules on hand-made rooms -------------------------------------------------------------------------
CORRIDOR = """
########
#______#
#PXO___#
#______#
#___XO_#
########
"""


def test_rewards_for_pushing_on_and_off_target_and_solving() -> None:
    env = SokobanEnv.from_text(CORRIDOR)
    assert env.render() == CORRIDOR.strip()
    obs, reward, terminated, truncated, info = env.step("Right")
    assert reward == pytest.approx(0.9) and info == {"action_effective": True, "boxes_on_target": 1, "success": False}
    assert obs.splitlines()[2] == "#_P√___#" and not terminated and not truncated
    obs, reward, _, _, info = env.step("Right")
    assert reward == pytest.approx(-1.1) and info["boxes_on_target"] == 0
    assert obs.splitlines()[2] == "#__SX__#"
    for a in ("Up", "Right", "Right", "Down"):
        assert env.step(a).reward == pytest.approx(-0.1)
    obs, reward, terminated, _, info = env.step("Left")
    assert reward == pytest.approx(0.9) and not terminated and info["boxes_on_target"] == 1
    assert obs.splitlines()[2] == "#__√P__#"
    for a in ("Down", "Left", "Down"):
        assert env.step(a).reward == pytest.approx(-0.1)
    obs, reward, terminated, truncated, info = env.step("Right")
    assert reward == pytest.approx(10.9) and terminated and not truncated
    assert info == {"action_effective": True, "boxes_on_target": 2, "success": True}
    assert obs.splitlines()[4] == "#___P√_#" and env.success and env.done
    with pytest.raises(RuntimeError):
        env.step("Left")


def test_bumping_a_wall_costs_a_step_and_changes_nothing() -> None:
    env = SokobanEnv.from_text(CORRIDOR)
    obs, reward, terminated, truncated, info = env.step("Left")
    assert obs == CORRIDOR.strip() and reward == pytest.approx(-0.1)
    assert info == {"action_effective": False, "boxes_on_target": 0, "success": False}
    assert not terminated and not truncated and env.steps == 1


@pytest.mark.parametrize(
    "text",
    [
        "######\n#PXX_#\n#_OO_#\n######",  # box into a box
        "######\n#_PX##\n#_O__#\n######",  # box into a wall
    ],
)
def test_a_box_cannot_be_pushed_into_a_wall_or_another_box(text: str) -> None:
    env = SokobanEnv.from_text(text)
    obs, reward, _, _, info = env.step("Right")
    assert obs == text and reward == pytest.approx(-0.1) and not info["action_effective"]


def test_truncation_at_max_steps_and_errors() -> None:
    env = SokobanEnv.from_text(CORRIDOR, max_steps=3)
    assert [env.step("Left")[3] for _ in range(3)] == [False, False, True]
    assert env.done and not env.success
    with pytest.raises(RuntimeError, match="ended"):
        env.step("Up")
    env.reset(0)  # a hand-made env keeps its room
    assert env.render() == CORRIDOR.strip() and not env.done
    for bad in ("up", "Jump", ""):
        with pytest.raises(ValueError, match="unknown action"):
            env.step(bad)
    with pytest.raises(RuntimeError, match="reset"):
        make("sokoban").step("Up")


def test_solving_on_the_last_allowed_step_is_success_not_truncation() -> None:
    env = SokobanEnv.from_text("#####\n#PXO#\n#####", max_steps=1)
    _, reward, terminated, truncated, _ = env.step("Right")
    assert reward == pytest.approx(10.9) and terminated and not truncated


def test_player_on_target_and_room_text_round_trip() -> None:
    text = "######\n#SX__#\n#_√__#\n#_XO_#\n######"
    room = Room.from_text(text)
    assert room.to_text() == text and len(room.boxes) == len(room.targets) == 3
    env = SokobanEnv.from_text(text)
    assert env.render() == text and env.player == (1, 1) and env.boxes_on_target == 1
    assert env.step("Down").observation.splitlines()[1:3] == ["#OX__#", "#P√__#"]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("#####\n#PXO#\n#PXO#\n#####", "one player"),
        ("#####\n#PXO#\n#_?_#\n#####", "unknown symbols"),
        ("#####\n#PXX#\n#_O_#\n#####", "as many targets"),
        ("#####\n#P√_#\n#####", "already solved"),
        ("#####\n#PXO\n#####", "equally long"),
    ],
)
def test_bad_hand_made_rooms(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SokobanEnv.from_text(text)


# --- deadlocks and the solver ------------------------------------------------------------------------
CORNERED = "#####\n#X__#\n#_P_#\n#__O#\n#####"


def test_corner_deadlocks() -> None:
    room = Room.from_text(CORNERED)
    walls = {room.rc(x) for x in room.walls}
    assert is_corner_deadlock(walls, {(3, 3)}, (1, 1))
    assert not is_corner_deadlock(walls, {(1, 1)}, (1, 1))  # a box on a target in a corner is fine
    assert not is_corner_deadlock(walls, {(3, 3)}, (1, 2))  # against one wall only
    dead = dead_squares(walls, {(3, 3)})
    assert {(1, 1), (1, 3), (3, 1), (1, 2), (2, 1)} <= dead and (3, 3) not in dead and (2, 2) not in dead
    env = SokobanEnv.from_text(CORNERED)
    assert env.optimal_solution() is None and env.optimal_solution_length() is None


def test_solver_small_cases() -> None:
    walls = {(r, c) for r in range(5) for c in range(5) if r in (0, 4) or c in (0, 4)}
    assert solve(walls, [(2, 2)], [(2, 2)], (1, 1)) == []
    assert solve(walls, [(2, 3)], [(2, 2)], (2, 1)) == ["Right"]
    assert solve(walls, [(3, 2)], [(2, 2)], (2, 1)) == ["Up", "Right", "Down"]
    assert solve(walls, [(3, 3)], [(2, 2)], (1, 1), max_nodes=1) is None  # over the node budget


# --- observations and config --------------------------------------------------------------------------
def test_grid_coord_observation() -> None:
    env = make("sokoban", observation_format="grid_coord")
    obs = env.reset(0)
    grid = make("sokoban").reset(0)
    (tr, tc), (br, bc), (pr, pc) = next(iter(env.targets)), next(iter(env.boxes)), env.player
    assert obs.startswith("Coordinates:\nBoard size: 6 rows x 6 cols (zero-indexed).\n")
    assert f"Targets: ({tr}, {tc})" in obs and f"Boxes: ({br}, {bc})" in obs and f"Player: ({pr}, {pc})" in obs
    assert obs.endswith("\nGrid Map:\n" + grid)


def test_instructions_cover_symbols_and_actions() -> None:
    text = make("sokoban").instructions
    assert all(s in text for s in "#_OX√PS") and all(a in text for a in SokobanEnv.actions)


def test_config_errors_and_json_lists() -> None:
    assert SokobanConfig(dim_room=[7, 5]).dim_room == (7, 5)
    with pytest.raises(ValueError, match="bogus"):
        make("sokoban", bogus=1)
    for bad in (
        {"dim_room": (2, 6)},
        {"dim_room": (6,)},
        {"dim_room": "66"},
        {"num_boxes": 0},
        {"num_boxes": True},
        {"num_boxes": 20},
        {"max_steps": 0},
        {"search_depth": 0},
        {"num_gen_steps": 0},
        {"max_random_player_moves": -1},
        {"observation_format": "image"},
    ):
        with pytest.raises(ValueError, match="sokoban"):
            make("sokoban", **bad)
