"""WebShopEnv on the generated catalog: oracle purchases, partial rewards, page flow, renderings,
invalid actions, fork equivalence, cross-process determinism and a SearchDriver episode."""

from __future__ import annotations

import asyncio
import json
import pickle
import subprocess
import sys

import pytest
from rapidfuzz import fuzz

from tsr_verl.envs import make
from tsr_verl.envs.parsing import ParseConfig, parse_turn, step_turn
from tsr_verl.envs.webshop.env import WebShopEnv
from tsr_verl.envs.webshop.reward import get_reward
from tsr_verl.search import Candidate, EpisodeConfig, SearchConfig, SearchDriver

SEEDS = range(60)


@pytest.fixture(scope="module")
def env() -> WebShopEnv:
    return WebShopEnv(max_steps=40)


def goal_values(goal) -> list[str]:
    opts = goal.goal_options
    return [str(v) for v in (opts.values() if hasattr(opts, "values") else opts)]


def pick_value(env: WebShopEnv, wanted: str) -> str:
    """The product's option value an attentive shopper clicks for ``wanted`` (exact, else fuzzy)."""
    product = env.world.catalog.product(env.state.product)
    values = [v for vs in product.options.values() for v in vs]
    norm = wanted.lower().replace("/", " | ")
    return norm if norm in values else max(values, key=lambda v: (fuzz.ratio(v, norm), -values.index(v)))


def oracle(env: WebShopEnv, seed: int, wrong_option: bool = False) -> list[str]:
    """Search the goal's words, page to the goal ASIN, open it, click the goal's options, buy.
    Returns the actions played (the episode ends bought)."""
    played: list[str] = []

    def act(action: str) -> None:
        assert env.match_action(action) is not None, (action, env.available_actions())
        played.append(env.match_action(action))
        env.step(action)

    env.reset(seed)
    goal = env.goal
    act(f"search[{goal.instruction_text.split(' with ')[0].split(', and price')[0]}]")
    while f"click[{goal.asin.lower()}]" not in env.available_actions():
        act("click[next >]")
    act(f"click[{goal.asin}]")
    for i, value in enumerate(goal_values(goal)):
        choice = pick_value(env, value)
        if wrong_option and i == 0:
            product = env.world.catalog.product(env.state.product)
            choice = next(v for vs in product.options.values() if choice in vs for v in vs if v != choice)
        act(f"click[{choice}]")
    act("click[buy now]")
    return played


@pytest.mark.parametrize("kind", ["synthetic", "human"])
def test_oracle_buys_the_goal_with_reward_one(kind):
    env = WebShopEnv(goals=kind, max_steps=40)
    wins = 0
    for seed in SEEDS:
        oracle(env, seed)
        assert env.done and env.purchase is not None
        wins += env.success and env.purchase.reward == 1.0
    assert wins >= 50, f"{wins}/{len(SEEDS)} {kind} oracle episodes earned 1.0"


def test_wrong_option_gets_the_reward_modules_partial_reward(env):
    seed = next(
        s
        for s in SEEDS
        if (env.reset(s) or True)
        and goal_values(env.goal)
        and all(
            len(v) > 1 for v in env.world.catalog.product(env.world.catalog.index_of(env.goal.asin)).options.values()
        )
    )
    oracle(env, seed, wrong_option=True)
    product = env.world.catalog.product(env.state.product)
    expected = get_reward(env.goal, product, env.state.selected, product.price, nouns=env.world.nouns)
    assert env.purchase == expected and 0 < expected.reward < 1 and not env.success
    assert env.state.kind == "done" and "Your score (min 0.0, max 1.0)" in env.render()


def test_buy_now_info_carries_the_breakdown(env):
    actions = oracle(env, 0)
    env.reset(0)
    for a in actions[:-1]:
        env.step(a)
    result = env.step(actions[-1])
    assert result.terminated and not result.truncated and result.reward == 1.0
    info = result.info
    assert info["success"] and info["reward_breakdown"]["reward"] == 1.0 and info["purchased_asin"] == env.goal.asin
    with pytest.raises(RuntimeError, match="ended"):
        env.step("click[back to search]")


def test_paging_next_and_prev(env):
    env.reset(0)
    env.step("search[the]")  # a stop word: no hits, one empty page
    assert env.state.hits == () and "Page 1 (Total results: 0)" in env.render()
    env.step("search[black white red small large]")  # option words: many hits
    hits = env.state.hits
    assert len(hits) == 50 and "Page 1 (Total results: 50)" in env.render()
    assert "click[< prev]" not in env.available_actions() and "click[next >]" in env.available_actions()
    first = env.render()
    for page in range(2, 6):
        env.step("click[next >]")
        assert env.state.page == page and f"Page {page} (Total results: 50)" in env.render()
        asin = env.world.catalog.product(hits[(page - 1) * 10]).asin
        assert f"click[{asin.lower()}]" in env.available_actions()
    # Upstream's template shows Next > on every results page: on page 5 of 5 it leads to an empty
    # page 6 (still "Total results: 50"), and Prev comes back.
    assert env.match_action("click[next >]") == "click[next >]"
    env.step("click[next >]")
    assert env.state.page == 6 and env.render().endswith("Page 6 (Total results: 50) [SEP] < Prev [SEP] Next >")
    assert env.available_actions() == (
        "search[<your query>]",
        "click[back to search]",
        "click[< prev]",
        "click[next >]",
    )
    for _ in range(5):
        env.step("click[< prev]")
    assert env.state.page == 1 and env.render() == first


def test_item_sub_pages_back_and_prev(env):
    actions = oracle(env, 1)
    env.reset(1)
    for a in actions[:-1]:  # on the item page, options selected
        env.step(a)
    item, selected = env.render(), env.state.options
    product = env.world.catalog.product(env.state.product)
    assert "Rating: N.A." in item  # upstream never loads ratings
    for sub, text in [("description", product.description), ("features", product.bullet_points[0]), ("reviews", "")]:
        env.step(f"click[{sub.title()}]")
        assert env.state.kind == "sub" and text.strip() in env.render()
        if sub == "reviews":  # upstream's loader leaves every review list empty
            assert env.render().endswith("[SEP] Back to Search [SEP] < Prev")
        assert env.available_actions() == ("search[<your query>]", "click[back to search]", "click[< prev]")
        env.step("click[< prev]")
        assert env.render() == item and env.state.options == selected
    env.step("click[< prev]")  # item -> its results page; options dropped
    assert env.state.kind == "results" and env.state.options == () and "Page " in env.render()
    env.step("click[back to search]")
    assert env.state.kind == "search" and env.render() == env.reset(1)


def test_invalid_actions_are_noops_and_matching_is_case_insensitive(env):
    env.reset(2)
    obs = env.render()
    for bad in ["click[buy now]", "click[search]", "click[next >]", "search[]", "buy", "click[", "jump[x]"]:
        assert env.match_action(bad) is None
        result = env.step(bad)
        assert result.observation == obs and result.reward == 0.0 and not result.info["action_valid"]
    assert env.steps == 7
    assert env.match_action("  SEARCH[ Red   Shirt ] ") == "search[red shirt]"
    env.step("search[red shirt]")
    asin = env.world.catalog.product(env.state.hits[0]).asin
    assert env.match_action(f"Click[{asin.upper()}]") == f"click[{asin.lower()}]"
    assert env.match_action("CLICK[Back To Search]") == "click[back to search]"
    assert env.match_action("click[description]") is None  # not on a results page


def test_search_only_on_the_search_page_when_configured():
    env = WebShopEnv(search_anywhere=False)
    env.reset(0)
    env.step("search[shirt]")
    assert env.match_action("search[shirt]") is None and "search[<your query>]" not in env.available_actions()
    env.step("click[back to search]")
    assert env.available_actions() == ("search[<your query>]",)


def test_text_and_text_rich_renderings():
    plain, rich = WebShopEnv(), WebShopEnv(observation_mode="text_rich")
    assert plain.world is rich.world
    goal_text = plain.world.goals[0].instruction_text
    assert plain.reset(0) == f"WebShop [SEP] Instruction: [SEP] {goal_text} [SEP] Search"
    assert rich.reset(0) == f"WebShop\nInstruction:\n{goal_text}\n[button] Search [button_]\n"
    actions = oracle(WebShopEnv(max_steps=40), 0)
    for a in actions[:-1]:
        plain.step(a)
        rich.step(a)
    chosen = plain.state.options[0][1]
    assert "[button]" not in plain.render() and " [SEP] Buy Now" in plain.render()
    text = rich.render()
    assert text.startswith("You have clicked") and f"  [clicked button] {chosen} [clicked button_]\n" in text
    assert "[button] Back to Search [button_]\n[button] < Prev [button_]\n" in text
    rich.step("click[< prev]")  # visited ASIN is marked on the results page
    assert f"\n[clicked button] {plain.goal.asin} [clicked button_]\n" in rich.render()


def test_fork_equivalence_and_isolation(env):
    actions = oracle(env, 3)
    env.reset(3)
    for a in actions[:2]:
        env.step(a)
    parent_obs, parent_state = env.render(), env.state
    child = env.fork()
    assert child.world is env.world and child.render() == parent_obs
    copied = pickle.loads(pickle.dumps(env))  # pickles the session; the world travels by key
    assert copied.world is env.world and copied.render() == parent_obs
    twin = env.fork()
    for a in actions[2:]:
        assert child.step(a) == twin.step(a)
    assert child.success and twin.success
    assert env.render() == parent_obs and env.state is parent_state and not env.done
    assert env.available_actions() != child.available_actions()


def test_progress_is_dense_bounded_and_zero_after_the_episode(env):
    actions = oracle(env, 4)
    env.reset(4)
    trace = [env.progress()]
    for a in actions[:-1]:
        env.step(a)
        trace.append(env.progress())
    assert trace[0] == 0.0 and all(0.0 <= p <= 1.0 for p in trace)
    assert trace[-1] == pytest.approx(env.config.progress_item_weight) and max(trace) == trace[-1]
    assert trace[1] > 0.0  # a results page listing the goal product
    env.step(actions[-1])
    assert env.progress() == 0.0


def test_reset_errors_and_truncation():
    env = WebShopEnv(max_steps=3)
    with pytest.raises(RuntimeError, match="reset"):
        env.step("search[x]")
    n = len(env.world.goals)
    with pytest.raises(ValueError, match=f"only {n} synthetic goals"):
        env.reset(n)
    env.reset(n - 1)
    results = [env.step("search[shirt]") for _ in range(3)]
    assert [r.truncated for r in results] == [False, False, True] and env.done and not env.success
    with pytest.raises(ValueError, match="unknown config key"):
        WebShopEnv(colour="red")
    with pytest.raises(ValueError, match="observation_mode"):
        WebShopEnv(observation_mode="html")


def test_make_and_both_goal_kinds_keep_splits():
    env = make("tsr_verl.envs.webshop.env:WebShopEnv", goals="both")  # the lead registers "webshop"
    goals = env.world.goals
    kinds = {goals[i].kind for i in goals.split("test")}
    assert kinds == {"synthetic", "human"} and len(goals) == sum(len(goals.split(s)) for s in ("test", "val", "train"))


_FIRST_OBS = """
import json, sys
from tsr_verl.envs.webshop.env import WebShopEnv
env = WebShopEnv()
out = []
for seed in (0, 7, 123):
    out.append(env.reset(seed))
    out.append(env.step("search[" + env.goal.instruction_text + "]").observation)
print(json.dumps(out))
"""


def test_two_processes_agree_on_observations(tmp_path, subprocess_env):
    runs = []
    for i in range(2):  # separate caches: each process generates catalog, goals and index itself
        env = subprocess_env(TSR_VERL_CACHE=str(tmp_path / f"cache{i}"), PYTHONHASHSEED=str(i))
        done = subprocess.run([sys.executable, "-c", _FIRST_OBS], capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    assert runs[0] == runs[1]


class OracleProposer:
    """Offers, each turn, the oracle's next action and a worse one (in alternating order)."""

    def __init__(self, good: list[str], bad: list[str]) -> None:
        self.good, self.bad = good, bad

    async def __call__(self, context, k: int, *, greedy: bool = False) -> list[Candidate]:
        turn = len(context.turns)
        pair = [self.good[turn], self.bad[turn]]
        texts = pair[::-1] if turn % 2 else pair
        return [Candidate(f"<think>shop</think><answer>{t}</answer>") for t in texts[:k]]


def test_search_driver_with_progress_scorer_buys_the_goal(env):
    good = oracle(env, 5)
    bad = ["click[nothing]", "click[back to search]"] + ["click[description]"] * (len(good) - 2)
    env.reset(5)
    parsed = parse_turn(f"<think>x</think><answer>{good[0].upper()}</answer>", env.match_action, ParseConfig())
    assert parsed.actions == (good[0],) and parsed.penalty == 0.0
    assert step_turn(env.fork(), parsed).reward == 0.0
    driver = SearchDriver(
        OracleProposer(good, bad),
        SearchConfig(strategy="best_of_n", num_candidates=2, scorer="env_progress"),
        EpisodeConfig(max_turns=len(good), max_actions=20),
    )
    result = asyncio.run(driver.run(env, seed=0))
    assert result.best.success and result.best.total_return == pytest.approx(1.0)
    assert [t.parsed.actions[0] for t in result.best.turns] == good
    assert "Available actions: search[<your query>]" in result.best.context.messages[-1]["content"]
