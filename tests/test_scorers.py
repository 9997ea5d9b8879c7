"""Scorers: task heuristics rank states the way their docstrings promise; lookup by name/path."""

from __future__ import annotations

import pytest

from tsr_verl.envs.frozenlake import FrozenLakeEnv
from tsr_verl.envs.parsing import parse_turn
from tsr_verl.envs.sokoban import SokobanEnv
from tsr_verl.search.scorers import DEAD, Evaluation, get_scorer, register_scorer


def evaluate(scorer: str, env, rewards=(0.0,)) -> float:
    return get_scorer(scorer)(Evaluation(env, parse_turn("", env.actions), tuple(rewards), env.done))


def test_sokoban_heuristic_penalises_corner_deadlocks_and_distance():
    cornered = SokobanEnv.from_text("#####\n#O_X#\n#_P_#\n#####")
    free_far = SokobanEnv.from_text("######\n#O___#\n#__X_#\n#___P#\n######")
    free_near = SokobanEnv.from_text("######\n#OX__#\n#____#\n#___P#\n######")
    assert evaluate("sokoban", cornered) <= DEAD / 2
    assert DEAD / 2 < evaluate("sokoban", free_far) < evaluate("sokoban", free_near)
    # Rewards still count: the heuristic adds to the return-to-go.
    assert evaluate("sokoban", free_near, (1.0, 0.5)) == pytest.approx(evaluate("sokoban", free_near) + 1.5)


def test_frozenlake_risk_prefers_safe_ice_and_hates_holes():
    # Same distance to the goal; between two holes every action risks a slide (>= 0.1 + 0.1).
    risky = FrozenLakeEnv.from_text("_O__\n_P__\n_O__\n___G", success_rate=0.8)
    safe = FrozenLakeEnv.from_text("____\n_P__\n____\nO__G", success_rate=0.8)
    # A hole on one side only can be avoided by moving away (no slide goes backwards): no risk.
    one_side = FrozenLakeEnv.from_text("_O__\n_P__\n____\n___G", success_rate=0.8)
    assert risky.shortest_path_length() == safe.shortest_path_length()
    assert evaluate("frozenlake_risk", risky) == pytest.approx(evaluate("frozenlake_risk", safe) - 0.5 * 0.2)
    assert evaluate("frozenlake_risk", one_side) == evaluate("frozenlake_risk", safe)
    closer = FrozenLakeEnv.from_text("____\n____\n__P_\nO__G", success_rate=0.8)
    assert evaluate("frozenlake_risk", closer) > evaluate("frozenlake_risk", safe)
    fell = FrozenLakeEnv.from_text("PO\n_G", is_slippery=False)
    fell.step("Right")
    assert fell.done and not fell.success and evaluate("frozenlake_risk", fell) <= DEAD / 2
    won = FrozenLakeEnv.from_text("P_\nOG", is_slippery=False)
    won.step("Right"), won.step("Down")
    assert evaluate("frozenlake_risk", won, (1.0,)) == 1.0


def test_generic_scorers_and_lookup():
    env = FrozenLakeEnv.from_text("P_\nOG", is_slippery=False)
    assert evaluate("env_reward", env, (-0.1, 5.0)) == -0.1
    assert evaluate("return_to_go", env, (-0.1, 5.0)) == pytest.approx(4.9)
    assert evaluate("success", env) == 0.0
    assert get_scorer("tsr_verl.search.scorers:success") is get_scorer("success")
    with pytest.raises(ValueError, match="unknown scorer 'best'"):
        get_scorer("best")
    with pytest.raises(ValueError, match="cannot load scorer"):
        get_scorer("tsr_verl.search.scorers:nope")
    with pytest.raises(ValueError, match="progress"):
        evaluate("env_progress", env)

    class Progressive(FrozenLakeEnv):
        def progress(self) -> float:
            return 0.25

    prog = Progressive.from_text("P_\nOG", is_slippery=False)
    assert evaluate("env_progress", prog, (1.0,)) == 1.25
    register_scorer("test_double", lambda ev: 2 * ev.return_to_go)
    assert evaluate("test_double", env, (1.0, 2.0)) == 6.0
