"""The search driver and strategies, with scripted proposers on crafted and real envs."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import numpy as np
import pytest

from tsr_verl.envs import StepResult, TextEnv, make
from tsr_verl.envs.parsing import ParseConfig, parse_turn, step_turn
from tsr_verl.envs.prompts import initial_messages, turn_message
from tsr_verl.search import Candidate, Context, EpisodeConfig, SearchConfig, SearchDriver
from tsr_verl.search.scripted import RandomPolicy


class TreeEnv(TextEnv):
    """A deterministic decision tree: the state is the path of actions taken; ``reward_fn(path)``
    gives the reward of the step that produced ``path``; the episode ends at ``horizon`` steps."""

    name, actions, instructions = "tree", ("A", "B", "C"), "Pick letters."

    def __init__(self, reward_fn: Callable[[tuple[str, ...]], float], horizon: int) -> None:
        super().__init__()
        self.reward_fn, self.horizon, self.path = reward_fn, horizon, ()

    def reset(self, seed: int) -> str:
        self._seed_rng(seed)
        self.path = ()
        return self.render()

    def step(self, action: str) -> StepResult:
        self._check_action(action)
        self.path += (action,)
        return StepResult(self.render(), self.reward_fn(self.path), self.done, False, {})

    def render(self) -> str:
        return "path:" + "".join(self.path)

    success = property(lambda self: self.done)
    done = property(lambda self: len(self.path) >= self.horizon)

    def _copy_mutable_state(self) -> None:
        pass  # the path is an immutable tuple


def answer(action: str) -> str:
    return f"<think>t</think><answer>{action}</answer>"


class ScriptedProposer:
    """Returns ``choices`` (cycled) for candidate calls and ``sim_action`` for k=1 greedy calls;
    token ids/log-probs are unique per call so tests can trace them. Records every call."""

    def __init__(self, choices: tuple[str, ...] = ("A", "B", "C"), sim_action: str = "A") -> None:
        self.choices, self.sim_action = choices, sim_action
        self.calls: list[tuple[int, int, bool]] = []  # (turn, k, greedy)
        self.in_flight = self.max_in_flight = 0
        self.issued: list[Candidate] = []

    async def __call__(self, context: Context, k: int, *, greedy: bool = False) -> list[Candidate]:
        self.calls.append((len(context.turns) + 1, k, greedy))
        actions = [self.sim_action] if greedy else [self.choices[i % len(self.choices)] for i in range(k)]
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0)  # let concurrent calls overlap
        self.in_flight -= 1
        out = []
        for a in actions:
            n = len(self.issued)
            out.append(Candidate(answer(a), token_ids=(1000 + n, n), logprobs=(-0.1 * n, -0.01 * n)))
            self.issued.append(out[-1])
        return out


def run(env: TextEnv, proposer, seed: int = 0, **cfg):
    episode = cfg.pop("episode", EpisodeConfig(max_turns=env.horizon if isinstance(env, TreeEnv) else 5))
    driver = SearchDriver(proposer, SearchConfig(**cfg), episode)
    return asyncio.run(driver.run(env, seed=seed))


def tree(reward_fn, horizon: int) -> TreeEnv:
    env = TreeEnv(reward_fn, horizon)
    env.reset(0)
    return env


# --- strategies do what their names say -----------------------------------------------------------
def delayed_prize(path):  # A pays now; B pays 10 one turn later.
    return {("A",): 1.0, ("B", "A"): 10.0}.get(path, 0.0)


def test_beam_finds_what_greedy_best_of_n_misses():
    greedy = run(tree(delayed_prize, 2), ScriptedProposer(("A", "B")), strategy="best_of_n", num_candidates=2)
    beam = run(tree(delayed_prize, 2), ScriptedProposer(("A", "B")), strategy="beam", num_candidates=2, beam_width=2)
    assert greedy.best.total_return == 1.0 and greedy.best.turns[0].executed == ("A",)
    assert beam.best.total_return == 10.0 and [t.executed for t in beam.best.turns] == [("B",), ("A",)]


def trap(path):  # A and B pay 1 now and -10 two turns later; C pays 0, then 0.5 per turn.
    if path[0] in "AB":
        return {1: 1.0, 2: 0.0, 3: -10.0}[len(path)]
    return 0.0 if len(path) == 1 else 0.5


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({"strategy": "best_of_n"}, -9.0),
        ({"strategy": "beam", "beam_width": 2}, -9.0),
        ({"strategy": "lookahead", "beam_width": 2, "lookahead_depth": 1}, -9.0),
        ({"strategy": "lookahead", "beam_width": 2, "lookahead_depth": 2}, 1.0),
        ({"strategy": "lookahead", "beam_width": 1, "lookahead_depth": 2}, 1.0),
    ],
)
def test_only_lookahead_of_depth_two_avoids_the_trap(cfg, expected):
    result = run(tree(trap, 3), ScriptedProposer(("A", "B", "C")), num_candidates=3, **cfg)
    assert result.best.total_return == pytest.approx(expected)
    if expected > 0:
        assert result.best.turns[0].executed == ("C",)


def test_lookahead_simulation_calls_are_single_greedy_proposals():
    proposer = ScriptedProposer(("A", "B", "C"))
    run(tree(trap, 3), proposer, strategy="lookahead", num_candidates=3, beam_width=2, lookahead_depth=2)
    sims = [c for c in proposer.calls if c[2]]
    assert sims and all(k == 1 for _, k, _ in sims)
    assert all(not greedy for _, k, greedy in proposer.calls if k == 3)
    sampled = ScriptedProposer(("A", "B", "C"))
    run(tree(trap, 3), sampled, strategy="lookahead", num_candidates=3, lookahead_depth=2, lookahead_greedy=False)
    assert not any(greedy for *_, greedy in sampled.calls)


class RandomProposer(ScriptedProposer):
    """Picks each candidate's action with a seeded RNG, so whole episodes differ."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.rng = np.random.default_rng(seed)

    async def __call__(self, context, k, *, greedy=False):
        self.choices = tuple(self.rng.permutation(["A", "B", "C"]))
        return await super().__call__(context, k, greedy=greedy)


def test_trajectory_best_of_n_returns_the_max_return_episode():
    def reward(path):
        return {"A": 1.0, "B": 2.0, "C": 0.0}[path[-1]] * len(path)

    result = run(tree(reward, 3), RandomProposer(), strategy="trajectory_best_of_n", num_candidates=4, return_top=4)
    returns = [t.total_return for t in result.trajectories]
    assert len(returns) == 4 and len(set(returns)) > 1
    assert returns == sorted(returns, reverse=True)
    for traj in result.trajectories:  # each reported return is the sum of its own turn rewards
        assert traj.total_return == pytest.approx(sum(t.reward for t in traj.turns))
    best_only = run(tree(reward, 3), RandomProposer(), strategy="trajectory_best_of_n", num_candidates=4)
    assert best_only.best.total_return == max(returns)


def test_one_concurrent_batch_of_m_per_beam_per_turn():
    proposer = ScriptedProposer(("A", "B", "C"))
    run(tree(trap, 3), proposer, strategy="beam", num_candidates=3, beam_width=2)
    per_turn = {}
    for turn, k, _ in proposer.calls:
        assert k == 3
        per_turn[turn] = per_turn.get(turn, 0) + 1
    assert per_turn == {1: 1, 2: 2, 3: 2}
    assert proposer.max_in_flight == 2  # the two beams' batches were in flight together


def test_kept_tokens_and_logprobs_are_the_proposers_own():
    proposer = ScriptedProposer(("A", "B", "C"))
    result = run(tree(trap, 3), proposer, strategy="lookahead", num_candidates=3, beam_width=2)
    for turn in result.best.turns:
        assert any(turn.candidate is issued for issued in proposer.issued)  # the very object, unaltered
    cost = result.cost
    assert cost.proposals == len(proposer.issued) and cost.proposal_calls == len(proposer.calls)
    assert cost.tokens_generated == 2 * len(proposer.issued)
    assert cost.tokens_kept == result.best.num_tokens == 2 * len(result.best.turns)
    assert cost.env_steps > 0 and cost.forks > 0 and cost.env_time_s > 0


def test_ties_are_broken_by_seeded_random_not_candidate_order():
    firsts = set()
    for seed in range(12):
        picks = [
            run(tree(lambda p: 0.0, 1), ScriptedProposer(), seed=seed, strategy="best_of_n", num_candidates=3)
            .best.turns[0]
            .executed
            for _ in range(2)
        ]
        assert picks[0] == picks[1]  # same seed, same choice
        firsts.add(picks[0])
    assert len(firsts) > 1  # not always the first candidate


def test_search_tree_marks_kept_and_chosen_nodes():
    result = run(
        tree(delayed_prize, 2),
        ScriptedProposer(("A", "B")),
        strategy="beam",
        num_candidates=2,
        beam_width=2,
        record_tree=True,
    )
    nodes = result.tree
    assert len(nodes) == 1 + 2 + 4  # root, 2 candidates at turn 1, 2 beams x 2 at turn 2
    chosen = [n.text for n in nodes if n.chosen and n.parent is not None]
    assert chosen == [answer("B"), answer("A")]
    assert sum(n.kept for n in nodes if n.turn == 1) == 2 and sum(n.kept for n in nodes if n.turn == 2) == 2


# --- naive is a plain rollout; B=1, M=1 beam is naive -----------------------------------------------
def HashProposer(actions: tuple[str, ...]) -> RandomPolicy:  # noqa: N802 - reads like the class it was
    """A deterministic 'sampler' (the shared scripted policy): sometimes one, sometimes two
    actions, sometimes junk (1 in 7)."""
    return RandomPolicy(actions, seed=0, junk=1 / 7, junk_text="I am lost")


def plain_rollout(env: TextEnv, proposer: HashProposer, episode: EpisodeConfig):
    """What RAGEN does: sample one answer per turn, step the real env, append the next prompt."""
    ctx = Context(tuple(initial_messages(env, env.render(), episode.max_actions, episode.parse, episode.prompt)))
    used, records = 0, []
    from tsr_verl.search.types import TurnRecord

    for turn in range(1, episode.max_turns + 1):
        (cand,) = asyncio.run(proposer(ctx, 1))
        parsed = parse_turn(cand.text, env.actions, episode.parse)
        parsed = dataclasses.replace(parsed, actions=parsed.actions[: episode.max_actions - used])
        out = step_turn(env, parsed)
        used += len(out.executed)
        end = out.done or used >= episode.max_actions or turn == episode.max_turns
        feedback = (
            None
            if end
            else turn_message(
                turn + 1,
                out.observation,
                episode.max_actions - used,
                last_reward=out.reward,
                last_invalid=not out.executed,
                parse=episode.parse,
                prompt=episode.prompt,
            )
        )
        records.append(
            TurnRecord(cand, parsed, out.executed, out.reward, out.terminated, out.truncated, out.observation, feedback)
        )
        ctx = ctx.extend(records[-1])
        if end:
            break
    return records


def _signature(turns):
    return [
        (t.candidate.token_ids, t.candidate.logprobs, t.executed, t.reward, t.observation, t.feedback) for t in turns
    ]


@pytest.mark.parametrize(("name", "cfg"), [("sokoban", {}), ("frozenlake", {"is_slippery": True})])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_naive_equals_plain_rollout_and_degenerate_beam(name, cfg, seed):
    episode = EpisodeConfig(max_turns=6, max_actions=9, parse=ParseConfig(max_actions_per_turn=2))
    env = make(name, **cfg)
    env.reset(seed)
    expected = plain_rollout(env.fork(rng="copy"), HashProposer(env.actions), episode)
    for strategy in ({"strategy": "naive"}, {"strategy": "beam", "beam_width": 1, "num_candidates": 1}):
        twin = make(name, **cfg)
        twin.reset(seed)
        driver = SearchDriver(HashProposer(env.actions), SearchConfig(**strategy), episode)
        result = asyncio.run(driver.run(twin, seed=seed))
        assert _signature(result.best.turns) == _signature(expected), strategy
        assert result.best.total_return == pytest.approx(sum(t.reward for t in expected))


def test_independent_scoring_cannot_see_the_committed_outcome_and_copy_can():
    """A slippery move scored on forks: with ``score_rng=independent`` the forks' slips are not
    the real episode's (the committed slip differs from some fork's), with ``copy`` every fork
    slides exactly as the committed move then does."""

    def slips(score_rng: str) -> tuple[list[tuple[int, int]], tuple[int, int]]:
        seen: list[tuple[int, int]] = []

        def record(ev):
            seen.append(ev.env.player)
            return 0.0

        env = make("frozenlake", is_slippery=True)
        env.reset(3)
        start = env.fork(rng="copy")

        async def one(context, k, *, greedy=False):
            return [Candidate(answer("Down"))] * k

        config = SearchConfig(strategy="best_of_n", num_candidates=1, score_samples=6, score_rng=score_rng)
        result = asyncio.run(SearchDriver(one, config, EpisodeConfig(max_turns=1), scorer=record).run(env))
        start.step("Down")
        assert result.cost.forks == 6 + 1  # K scoring forks + the commit
        return seen[:6], start.player  # the 7th call re-rates the committed turn on the real env

    peeked, real = slips("copy")
    assert peeked == [real] * 6
    honest, real = slips("independent")
    assert len(set(honest)) > 1  # six independent draws of the slip, not six copies of the real one


def test_proposer_returning_the_wrong_count_is_an_error():
    async def bad(context, k, *, greedy=False):
        return [Candidate(answer("A"))]

    with pytest.raises(RuntimeError, match="returned 1 candidates, expected 3"):
        run(tree(trap, 3), bad, strategy="best_of_n", num_candidates=3)


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="strategy"):
        SearchConfig(strategy="mcts")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['beam_size'\]"):
        SearchConfig.from_dict({"beam_size": 2})
    with pytest.raises(ValueError, match="num_candidates"):
        SearchConfig(num_candidates=0)
    with pytest.raises(ValueError, match=r"episode.parse: unknown key"):
        EpisodeConfig.from_dict({"parse": {"sep": ","}})
    assert EpisodeConfig.from_dict({"max_turns": 3, "parse": {"action_sep": ","}}).parse.action_sep == ","
    assert SearchConfig(strategy="lookahead").resolved_scorer == "return_to_go"


@pytest.mark.parametrize(("name", "cfg", "scorer"), [("sokoban", {}, "sokoban"), ("frozenlake", {}, "frozenlake_risk")])
def test_search_beats_naive_with_the_same_random_policy(name, cfg, scorer):
    """With one fixed (hash-random) policy, searching its proposals yields higher returns."""
    episode = EpisodeConfig(max_turns=5, max_actions=10)
    means = {}
    for strategy in ("naive", "best_of_n", "beam", "lookahead"):
        returns = []
        for seed in range(40):
            env = make(name, **cfg)
            env.reset(seed)
            driver = SearchDriver(HashProposer(env.actions), SearchConfig(strategy=strategy, scorer=scorer), episode)
            returns.append(asyncio.run(driver.run(env, seed=seed)).best.total_return)
        means[strategy] = float(np.mean(returns))
    assert means["best_of_n"] > means["naive"] and means["beam"] > means["naive"]
    assert means["lookahead"] > means["naive"], means


def test_budget_hook_ends_paths_and_stops_simulation():
    async def one_turn_only(context: Context) -> bool:
        return len(context.turns) < 1

    proposer = ScriptedProposer(("A", "B", "C"))
    driver = SearchDriver(
        proposer,
        SearchConfig(strategy="lookahead", num_candidates=3, lookahead_depth=2),
        EpisodeConfig(max_turns=3),
        has_budget=one_turn_only,
    )
    result = asyncio.run(driver.run(tree(trap, 3)))
    assert len(result.best.turns) == 1 and result.best.end_reason == "budget"
    assert not any(greedy for *_, greedy in proposer.calls)  # no simulation beyond the budget
