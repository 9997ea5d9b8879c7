"""``check_env``: the contract every TSR environment must keep, checked on a live instance.

Search is only honest if forks behave (Gymnasium's ``utils/env_checker.py`` is the model):

1. **seed determinism**: ``reset(seed)`` followed by the same actions gives the same
   observations and rewards every time;
2. **fork equivalence**: a ``fork(rng="copy")`` stepped like its parent gives exactly the
   parent's results (the committed path of a search is a genuine episode);
3. **fork isolation**: stepping a fork never changes its parent's state or future;
4. **independent-fork streams**: independent forks of one state, forks of forks and forks of
   copy forks all draw from distinct random streams, none of them the parent's future.

Run it as the last step of adding an environment (docs/environments.md, "Adding an environment")::

    from tsr_verl.envs import make
    from tsr_verl.envs.check import check_env
    check_env(make("my_env"))
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from tsr_verl.envs.core import StepResult, TextEnv


class EnvCheckError(AssertionError):
    """An environment broke the contract; the message names the property and the seed."""


def check_env(env: TextEnv, seeds: Sequence[int] = (0, 1, 2), steps: int = 12) -> None:
    """Check the four properties above on ``env`` (reset and stepped in place) for each seed.

    Actions are drawn with a seeded generator from ``env.available_actions()`` (canonicalised
    with ``env.match_action``), so an env with state-dependent actions is exercised too.
    Raises ``EnvCheckError`` naming the first broken property."""
    for seed in seeds:
        plan = _play(env, seed, steps, np.random.default_rng([seed, 1]))
        if _play(env, seed, steps, np.random.default_rng([seed, 1])) != plan:
            raise EnvCheckError(f"{env.name}: reset({seed}) + the same actions gave different results")
        env.reset(seed)
        for k, (action, _) in enumerate(plan):
            twin, probe = env.fork(rng="copy"), env.fork(rng="copy")
            before = env.render()
            _walk(probe, plan[k:])  # a fork stepped to the end of the episode ...
            if env.render() != before:
                raise EnvCheckError(f"{env.name}: stepping a fork changed its parent (seed {seed}, step {k})")
            expected = env.step(action)
            if not _same(twin.step(action), expected):  # ... and a copy fork follows the parent
                raise EnvCheckError(f"{env.name}: a copy fork stepped unlike its parent (seed {seed}, step {k})")
            if env.done:
                break
        _check_streams(env, seed)


def _play(env: TextEnv, seed: int, steps: int, rng: np.random.Generator) -> list[tuple[str, tuple]]:
    """Reset, then take up to ``steps`` random available actions; the actions and their results."""
    env.reset(seed)
    out: list[tuple[str, tuple]] = []
    for _ in range(steps):
        if env.done:
            break
        options = [a for a in (env.match_action(x) for x in env.available_actions()) if a is not None]
        if not options:
            break
        action = options[int(rng.integers(len(options)))]
        out.append((action, _key(env.step(action))))
    return out


def _walk(env: TextEnv, plan: list[tuple[str, tuple]]) -> None:
    for action, _ in plan:
        if env.done:
            return
        env.step(action)


def _key(result: StepResult) -> tuple:
    return (result.observation, float(result.reward), bool(result.terminated), bool(result.truncated))


def _same(a: StepResult, b: StepResult) -> bool:
    return _key(a) == _key(b)


def _check_streams(env: TextEnv, seed: int) -> None:
    """Independent forks, forks of forks and forks of copy forks all get distinct streams."""
    env.reset(seed)
    future = tuple(copy.deepcopy(env.rng).random(4))
    first, second, copied = env.fork(), env.fork(), env.fork(rng="copy")
    forks = [first, second, first.fork(), second.fork(), copied.fork(), copied.fork(rng="copy").fork()]
    streams = [tuple(copy.deepcopy(f.rng).random(4)) for f in forks]
    if tuple(copy.deepcopy(copied.rng).random(4)) != future:
        raise EnvCheckError(f"{env.name}: fork(rng='copy') does not continue the parent's stream (seed {seed})")
    if len(set(streams)) != len(streams) or future in streams:
        raise EnvCheckError(f"{env.name}: two forks share a random stream, or one replays the parent's (seed {seed})")
