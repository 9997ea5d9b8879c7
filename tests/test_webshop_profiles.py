"""WebShop profiles (``profiles.py``): ``upstream`` (default) vs ``ragen`` goal mapping, state text,
action list and invalid-action handling, selected per job through the env config."""

from __future__ import annotations

import random

import pytest

from tsr_verl.envs.parsing import ParseConfig, parse_turn
from tsr_verl.envs.webshop import profiles
from tsr_verl.envs.webshop.config import WebShopConfig
from tsr_verl.envs.webshop.env import WebShopEnv


@pytest.fixture(scope="module")
def ragen() -> WebShopEnv:
    return WebShopEnv(profile="ragen", max_steps=40)  # synthetic:200 -> 1860 goals


def test_ragen_seed_mapping_and_permutation() -> None:
    n = 1860
    perm = list(range(n))
    random.Random(42).shuffle(perm)
    assert profiles.ragen_permutation(n) == tuple(perm)
    assert profiles.ragen_goal_index(7, n) == perm[7]  # test: seed % 500
    assert profiles.ragen_goal_index(507, n) == perm[507 % 1000 + 500]  # val: seed % 1000 + 500
    assert profiles.ragen_goal_index(1600, n) == perm[1600 % 360 + 1500]  # train: seed % (N-1500) + 1500
    assert profiles.ragen_goal_index(7, n, "val") == perm[507]  # an explicit mode
    with pytest.raises(ValueError, match="> 1500 goals"):
        profiles.ragen_goal_index(1600, 501)


def test_ragen_env_state_actions_and_goal(ragen: WebShopEnv) -> None:
    obs = ragen.reset(3)
    assert ragen.goal == ragen.world.goals[profiles.ragen_permutation(len(ragen.world.goals))[3]]
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and " [SEP] Search.We must buy a product" in obs
    assert obs.endswith("\n You must choose from these actions:search[<content>].")
    assert "2 times.Almost never click[< prev]" in obs  # RAGEN's missing comma, kept
    assert not ragen.lists_actions and "Max response length: 200 words (tokens)." in ragen.instructions
    ragen.step("search[" + ragen.goal.query + "]")
    actions = ragen.available_actions()
    assert actions[:2] == ("click[back to search]", "click[next >]") and "search[<content>]" not in actions
    assert ragen.render().endswith("You must choose from these actions:" + ", ".join(actions) + ".")


def test_ragen_hides_next_on_an_empty_page_and_steps_invalid_actions_as_noops(ragen: WebShopEnv) -> None:
    ragen.reset(4)
    ragen.step("search[black white red small large]")  # 50 hits: 5 pages, then an empty one
    for _ in range(5):
        ragen.step("click[next >]")
    assert ragen.state.page == 6 and ragen.available_actions() == ("click[back to search]", "click[< prev]")
    before = ragen.render()
    parse = ParseConfig(max_actions_per_turn=1)
    turn = parse_turn("<think>x</think><answer>click[b0nonexistent]</answer>", ragen.match_action, parse)
    assert turn.actions == ("click[b0nonexistent]",) and turn.penalty == 0.0  # parsed: no format penalty
    result = ragen.step("click[b0nonexistent]")
    assert result.reward == 0.0 and not result.info["action_valid"] and ragen.render() == before
    assert ragen.match_action("buy it") is None  # not an action at all


def test_upstream_profile_is_the_default_and_recorded() -> None:
    env = WebShopEnv(max_steps=40)
    assert env.config.profile == "upstream" and env.lists_actions
    assert env.metadata()["profile"] == "upstream" and env.metadata()["nouns"]["name"] == "spacy"
    env.reset(5)
    assert env.match_action("click[b0nonexistent]") is None  # upstream profile: invalid -> parser penalty
    with pytest.raises(ValueError, match="profile must be one of"):
        WebShopConfig(profile="verl-agent")
    with pytest.raises(ValueError, match="noun_extractor must be one of"):
        WebShopConfig(noun_extractor="nltk")
