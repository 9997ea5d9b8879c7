"""The env protocol, registry, specs, fork RNG semantics and the "add an env" example (docs/environments.md)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tsr_verl.envs import EnvSpec, TextEnv, make, make_from_spec, register, registered
from tsr_verl.envs.parsing import ParseConfig, parse_turn, step_turn
from tsr_verl.envs.registry import _REGISTRY


def _readme_example(repo_root) -> str:
    text = (repo_root / "docs" / "environments.md").read_text()
    match = re.search(r"<!-- readme-example:add-env -->\n```python\n(.*?)```", text, re.DOTALL)
    assert match, "docs/environments.md lost its add-env example"
    return match.group(1)


@pytest.fixture
def corridor(repo_root):
    """The toy env of docs/environments.md, executed from that page's text."""
    namespace: dict = {}
    try:
        exec(compile(_readme_example(repo_root), "docs/environments.md", "exec"), namespace)
        yield namespace["Corridor"]
    finally:
        _REGISTRY.pop("corridor", None)


def test_readme_example_is_short_and_works(repo_root, corridor):
    code_lines = [ln for ln in _readme_example(repo_root).splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(code_lines) <= 30
    assert "corridor" in registered()
    env = make("corridor", length=4)
    obs = env.reset(seed=1)
    assert obs.count("P") == 1 and obs.endswith("E")
    turn = parse_turn("<think>go</think><answer>Right || Right</answer>", env.actions)
    total, done = 0.0, False
    for _ in range(10):
        out = step_turn(env, turn)
        total += out.reward
        if out.done:
            done = True
            break
    assert done and env.success and total == 1.0 and out.terminated and not out.truncated


def test_fork_copies_state_and_leaves_parent_alone(corridor):
    env = make("corridor", length=6)
    env.reset(seed=0)
    before = env.render()
    child = env.fork()
    child.step("Right")
    assert env.render() == before and child.render() != before
    assert child.seed == env.seed


def test_fork_rng_modes(corridor):
    env = make("corridor")
    env.reset(seed=7)
    peek = env.fork(rng="copy")
    indep = env.fork(rng="independent")
    future = env.rng.random(16)
    assert np.array_equal(peek.rng.random(16), future)
    assert not np.array_equal(indep.rng.random(16), future)
    # Spawning an independent fork did not move the parent's stream: a twin sees the same future.
    twin = make("corridor")
    twin.reset(seed=7)
    assert np.array_equal(twin.rng.random(16), future)
    with pytest.raises(ValueError, match="rng"):
        env.fork(rng="peek")


def test_seed_and_action_errors(corridor):
    env = make("corridor")
    for bad in (-1, 1.5, "3", True):
        with pytest.raises(ValueError, match="seed"):
            env.reset(bad)
    env.reset(0)
    with pytest.raises(ValueError, match="unknown action 'Up'"):
        env.step("Up")
    env.max_steps = 1
    env.step("Left")
    with pytest.raises(RuntimeError, match="ended"):
        env.step("Left")


def test_registry_errors():
    with pytest.raises(ValueError, match="unknown env 'nope'"):
        make("nope")
    with pytest.raises(ValueError, match="cannot load"):
        make("tsr_verl.envs:DoesNotExist")
    with pytest.raises(TypeError, match="not a tsr_verl TextEnv"):
        make("collections:OrderedDict")
    register("sokoban", "tsr_verl.envs.sokoban.env:SokobanEnv")  # same entry again is fine
    with pytest.raises(ValueError, match="already registered"):
        register("sokoban", "my.module:Other")
    assert {"sokoban", "frozenlake"} <= set(registered())


def test_env_spec_round_trip_and_errors(corridor):
    spec = EnvSpec("corridor", 5, {"length": 3, "max_steps": None})
    row = spec.to_row()
    assert isinstance(row["config"], str)
    assert EnvSpec.from_row(row) == spec
    env, obs = make_from_spec(row)
    assert isinstance(env, TextEnv) and obs == env.render()
    with pytest.raises(ValueError, match="'name', 'seed'"):
        EnvSpec.from_row({"seed": 1})
    with pytest.raises(ValueError, match="not valid JSON"):
        EnvSpec.from_row({"name": "x", "seed": 1, "config": "{oops"})


def test_step_turn_stops_at_termination_and_skips_invalid(corridor):
    env = make("corridor", length=2)
    env.reset(seed=0)
    env.pos = 1
    out = step_turn(env, parse_turn("<think></think><answer>Right || Left</answer>", env.actions))
    assert out.executed == ("Right",) and out.terminated and out.reward == 1.0
    env.reset(seed=0)
    before = env.render()
    bad = step_turn(env, parse_turn("no format", env.actions, ParseConfig(format_penalty=-0.5)))
    assert bad.executed == () and bad.reward == -0.5 and bad.observation == before and not bad.done


def test_independent_fork_streams_are_numpys_spawned_children(corridor):
    env = make("corridor")
    env.reset(seed=11)
    first, second = env.fork(), env.fork()
    grandchild = first.fork()
    expected = np.random.default_rng(11).spawn(2)
    assert np.array_equal(first.rng.random(4), expected[0].random(4))
    assert np.array_equal(second.rng.random(4), expected[1].random(4))
    assert np.array_equal(grandchild.rng.random(4), np.random.default_rng(11).spawn(1)[0].spawn(1)[0].random(4))
