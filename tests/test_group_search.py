"""Group-coupled search (``tsr_verl.search.group``): one search fills a GRPO group with n genuine,
distinct episodes, each carrying exactly the proposer's answers and its own return, at a fraction
of the candidates n independent searches generate."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tsr_verl.envs import make
from tsr_verl.envs.parsing import ParsedTurn, step_turn
from tsr_verl.search import EpisodeConfig, SearchConfig, SearchDriver
from tsr_verl.search.group import action_key, coupled_config, group_metrics, pick_members, search_group
from tsr_verl.search.nodes import Node
from tsr_verl.search.scripted import RandomPolicy
from tsr_verl.search.types import Candidate, Context, TurnRecord

SCORERS = {"sokoban": "sokoban", "frozenlake": "frozenlake_risk"}


class Recording(RandomPolicy):
    """A RandomPolicy that remembers every candidate object it proposed."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.proposed: list = []

    async def __call__(self, context, k, *, greedy=False):
        out = await super().__call__(context, k, greedy=greedy)
        self.proposed += out
        return out


def _group(env_name: str, strategy: str, seed: int, n: int):
    env = make(env_name)
    env.reset(seed)
    policy = Recording(env.actions, f"g{seed}")
    scorer = None if strategy == "trajectory_best_of_n" else SCORERS[env_name]
    driver = SearchDriver(policy, SearchConfig(strategy=strategy, scorer=scorer), EpisodeConfig())
    members, results = asyncio.run(search_group(driver, env, n, seed=seed, stream=seed))
    return env, policy, members, results


def test_coupled_config_per_strategy():
    base = SearchConfig(strategy="beam", num_candidates=4, beam_width=2)
    assert coupled_config(base, 8).beam_width == 8 and coupled_config(base, 8).return_top == 8
    assert coupled_config(base, 1).beam_width == 2  # never narrower than B
    bon = coupled_config(SearchConfig(strategy="best_of_n"), 4)
    assert (bon.strategy, bon.beam_width, bon.num_candidates) == ("beam", 4, 4)
    traj = coupled_config(SearchConfig(strategy="trajectory_best_of_n", num_candidates=4), 16)
    assert traj.num_candidates == 32 and traj.return_top == 32  # top 16 of 32, as the authors
    with pytest.raises(ValueError, match="naive"):
        coupled_config(SearchConfig(strategy="naive"), 4)
    with pytest.raises(ValueError, match="group size"):
        coupled_config(base, 0)


@pytest.mark.parametrize("env_name", sorted(SCORERS))
@pytest.mark.parametrize("strategy", ["best_of_n", "beam", "lookahead", "trajectory_best_of_n"])
def test_members_are_genuine_distinct_episodes(env_name, strategy):
    n = 4
    for seed in range(3):
        env, policy, members, _ = _group(env_name, strategy, seed, n)
        assert len(members) == n
        proposed = {id(c) for c in policy.proposed}
        for m in members:
            # Exactly the proposer's answers (the same objects: text, token ids, log-probs)...
            assert all(id(t.candidate) in proposed for t in m.context.turns)
            # ...and its own return: replaying its turns on a fresh env gives the same rewards.
            if env_name == "sokoban":  # deterministic: the replay must match turn by turn
                replay = make(env_name)
                replay.reset(seed)
                rewards = [step_turn(replay, t.parsed).reward for t in m.context.turns]
                assert rewards == pytest.approx([t.reward for t in m.context.turns])
            assert m.total_return == pytest.approx(sum(t.reward for t in m.context.turns))
        metrics = group_metrics(members, 1, 1)
        assert 1 <= metrics["distinct"] <= n


def test_the_callers_env_is_not_stepped():
    env = make("sokoban")
    first = env.reset(3)
    driver = SearchDriver(RandomPolicy(env.actions, 3), SearchConfig(strategy="beam", scorer="sokoban"))
    asyncio.run(search_group(driver, env, 4, seed=3))
    assert env.render() == first and not env.done


def test_distinct_action_sequences_come_before_repeats():
    env, _, members, results = _group("sokoban", "beam", 1, 4)
    ranked = [t for r in results for t in r.trajectories]
    picked = pick_members(ranked, 4)
    keys = [tuple(t.executed for t in m.context.turns) for m in picked]
    distinct_available = len({tuple(t.executed for t in r.context.turns) for r in ranked})
    assert len(set(keys)) == min(4, distinct_available)
    with pytest.raises(ValueError, match="complete trajectories"):
        pick_members(ranked[:1], 2)


@pytest.mark.parametrize("strategy", ["beam", "lookahead", "trajectory_best_of_n"])
def test_coupled_spends_about_half_the_tokens_per_trained_trajectory(strategy):
    """At equal n, B=2, M=4: n independent searches each generate B·M (or N) candidates per turn
    for one trained trajectory; the coupled one generates about M per member (1/B), a little more
    when its distinct members live longer than the duplicates a plain beam would keep."""
    n, independent, coupled = 8, 0, 0
    scorer = None if strategy == "trajectory_best_of_n" else "sokoban"
    config = SearchConfig(strategy=strategy, scorer=scorer)
    for seed in range(4):
        for member in range(n):
            env = make("sokoban")
            env.reset(seed)
            result = asyncio.run(
                SearchDriver(RandomPolicy(env.actions, f"{seed}/{member}"), config).run(env, seed=seed, stream=member)
            )
            independent += result.cost.tokens_generated
        env = make("sokoban")
        env.reset(seed)
        _, results = asyncio.run(search_group(SearchDriver(RandomPolicy(env.actions, seed), config), env, n, seed=seed))
        coupled += sum(r.cost.tokens_generated for r in results)
    # Measured 2112 / 3744 = 0.56 for beam on these seeds; 20% slack for episode lengths.
    assert coupled <= 0.5 * independent * 1.2, (coupled, independent)


def test_a_failing_search_fails_the_whole_group():
    class Broken(RandomPolicy):
        async def __call__(self, context, k, *, greedy=False):
            if context.turns:
                raise RuntimeError("server down")
            return await super().__call__(context, k, greedy=greedy)

    env = make("frozenlake")
    env.reset(0)
    driver = SearchDriver(Broken(env.actions), SearchConfig(strategy="beam", scorer="frozenlake_risk"))
    with pytest.raises(RuntimeError, match="server down"):
        asyncio.run(search_group(driver, env, 4))


def test_first_turn_keeps_an_independent_searchs_keep_ratio():
    from tsr_verl.search.group import first_turn_fan_out

    assert first_turn_fan_out(SearchConfig(strategy="best_of_n"), 16) == 16  # 16 of 16·M, as 1 of M
    assert first_turn_fan_out(SearchConfig(strategy="beam", beam_width=2), 16) == 8  # 16 of 8·M, as B of M
    assert first_turn_fan_out(SearchConfig(strategy="beam", beam_width=3), 4) == 2
    assert first_turn_fan_out(SearchConfig(strategy="trajectory_best_of_n"), 16) == 1


@pytest.mark.parametrize("env_name", sorted(SCORERS))
def test_coupled_search_keeps_fewer_invalid_turns_than_naive(env_name):
    """Sharing one search must not undo search's first job: with 30% junk answers, the kept
    turns of coupled groups name a valid action (naive keeps ~25-30% junk turns). A coupled
    search whose first turn proposed from one copy of the start kept all M first answers, junk
    included (6% / 11% of kept turns here), which this catches."""

    def invalid_share(members):
        turns = [t for m in members for t in m.context.turns]
        return sum(not t.executed for t in turns) / len(turns)

    coupled, naive = [], []
    for seed in range(6):
        _, _, members, _ = _group(env_name, "beam", seed, 8)
        coupled.append(invalid_share(members))
        env = make(env_name)
        env.reset(seed)
        for member in range(8):
            env = make(env_name)
            env.reset(seed)
            result = asyncio.run(SearchDriver(RandomPolicy(env.actions, f"{seed}/{member}")).run(env, stream=member))
            naive.append(invalid_share([result.best]))
    assert sum(naive) / len(naive) > 0.15
    assert sum(coupled) / len(coupled) < 0.02, (coupled, naive)


def test_fan_out_must_be_positive():
    env = make("sokoban")
    env.reset(0)
    with pytest.raises(ValueError, match="fan_out >= 1"):
        asyncio.run(SearchDriver(RandomPolicy(env.actions)).run(env, fan_out=0))


def test_distinct_beams_keep_distinct_paths_when_the_tree_has_them():
    """Coupled searches commit distinct executed-action paths first: over many FrozenLake groups
    (2 turns, M=4) almost every group of 4 is 4 distinct episodes, where plain beams (the same
    search without ``distinct_beams``) often keep the same path twice."""
    from tsr_verl.envs.parsing import ParseConfig

    episode = EpisodeConfig(max_turns=2, parse=ParseConfig(max_actions_per_turn=2))
    counts = {}
    for distinct in (False, True):
        full = 0
        for seed in range(60):
            env = make("frozenlake", size=4, p=0.8, is_slippery=False)
            env.reset(seed)
            config = SearchConfig(strategy="beam", num_candidates=4, beam_width=4, scorer="frozenlake_risk")
            config = dataclasses.replace(config, distinct_beams=distinct, return_top=4)
            policy = RandomPolicy(env.actions, f"d{seed}", junk=0.0)
            result = asyncio.run(SearchDriver(policy, config, episode).run(env, seed=seed, fan_out=2))
            full += len({action_key(t) for t in result.trajectories}) == 4
        counts[distinct] = full
    assert counts[True] >= 57 and counts[True] > counts[False], counts


def _turn(executed: tuple[str, ...]) -> TurnRecord:
    parsed = ParsedTurn(actions=executed, invalid=(), penalty=0.0, format_ok=True)
    return TurnRecord(Candidate("x", ()), parsed, executed, 0.0, False, False, "", None)


def test_survivors_never_put_a_repeat_above_an_invalid_candidate():
    """``nodes.survivors``: repeats fill the width from their own class only after every distinct
    entry of that class; a valid repeat still ranks above any invalid entry."""
    from tsr_verl.search.nodes import survivors

    def node(actions):
        context = Context((), tuple(_turn(a) for a in actions))
        return Node(env=None, context=context)  # type: ignore[arg-type]

    a1, a2, b, bad = node([("Up",)]), node([("Up",)]), node([("Left",)]), node([()])
    entries = [(True, 3.0, 0.0, a1), (True, 2.0, 0.0, a2), (True, 1.0, 0.0, b), (False, 0.0, 0.0, bad)]
    assert survivors(entries, 2, lambda e: e[3], distinct=True) == [a1, b]
    assert survivors(entries, 3, lambda e: e[3], distinct=True) == [a1, b, a2]
    assert survivors(entries, 4, lambda e: e[3], distinct=True) == [a1, b, a2, bad]
    assert survivors(entries, 2, lambda e: e[3], distinct=False) == [a1, a2]


def test_group_benchmark_arms_compare_independent_and_coupled(repo_root, monkeypatch):
    """``benchmarks/rollout_groups.py`` (the group arms of rollout_quality.py) at a scripted
    policy: n members per seed in every arm, distinct members and tokens per trained trajectory
    from the searches' own costs, coupled below independent."""
    monkeypatch.syspath_prepend(str(repo_root / "benchmarks"))
    from rollout_groups import run_group_arm

    config = SearchConfig(strategy="beam", scorer="sokoban")
    rows = {
        coupled: asyncio.run(
            run_group_arm(
                lambda key: RandomPolicy(make("sokoban").actions, key),
                "sokoban",
                {},
                config,
                EpisodeConfig(),
                [0, 1, 2],
                4,
                coupled,
            )
        )
        for coupled in (False, True)
    }
    for r in rows.values():
        assert r["groups"] == 3 and r["group_size"] == 4 and 1 <= r["distinct"] <= 4
        assert 0 <= r["zero_std"] <= 1 and r["best"] >= r["return"] and r["std_quartiles"] == sorted(r["std_quartiles"])
        assert r["tokens_per_trajectory"] == pytest.approx(r["tokens_generated"] / 12)
    assert rows[True]["tokens_per_trajectory"] < 0.6 * rows[False]["tokens_per_trajectory"]
