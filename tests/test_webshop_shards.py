"""WebShop shards: one world and many sessions per shard; batched calls agree with in-process envs."""

from __future__ import annotations

import time

import pytest

from tsr_verl.envs.webshop.env import WebShopEnv
from tsr_verl.envs.webshop.shards import WebShopShard, WebShopShards

CONFIG = {"data_dir": "synthetic:200", "max_steps": 40}


def scripted_actions(seed: int) -> list[str]:
    """Search the goal's words, open the goal product (paging), pick its options naively, buy."""
    env = WebShopEnv(**CONFIG)
    env.reset(seed)
    goal, actions = env.goal, []

    def act(a: str) -> None:
        actions.append(a)
        env.step(a)

    act(f"search[{goal.instruction_text.split(' with ')[0]}]")
    while f"click[{goal.asin.lower()}]" not in env.available_actions():
        act("click[next >]")
    act(f"click[{goal.asin}]")
    opts = goal.goal_options
    for value in opts.values() if hasattr(opts, "values") else opts:
        act(f"click[{str(value).lower().replace('/', ' | ')}]")  # may be invalid: then a no-op on both sides
    act("click[buy now]")
    return actions


def test_shard_in_process_sessions_fork_close_prune_and_eviction():
    shard = WebShopShard(CONFIG, max_sessions=3)
    assert shard.ready()["products"] == 200
    obs = shard.reset_many([("a", 0), ("b", 1)])
    assert obs == [WebShopEnv(**CONFIG).reset(0), WebShopEnv(**CONFIG).reset(1)]
    script = scripted_actions(0)
    [first] = shard.step_many([("a", script[0])])
    assert first.info["available_actions"][0] == "search[<your query>]"
    shard.fork_session("a", "a2")
    for action in script[1:]:
        [ra], [rb] = shard.step_many([("a", action)]), shard.step_many([("a2", action)])
        assert ra.observation == rb.observation and ra.reward == rb.reward
    assert shard.call_many("success", ["a", "a2"]) == [True, True]
    assert shard.call_many("done", ["b"]) == [False]
    shard.reset_many([("c", 2)])  # 4th session: evicts the least recently used ("a")
    assert shard.evicted == 1
    with pytest.raises(KeyError, match="unknown session 'a'"):
        shard.step_many([("a", "search[x]")])
    assert shard.close_many(["a2", "nope"]) == 1
    time.sleep(0.01)
    assert shard.prune(0.0) == 2 and shard.stats()["sessions"] == 0
    with pytest.raises(ValueError, match="unknown query"):
        shard.call_many("reset", [])


def test_ray_shards_agree_with_in_process_envs(leftovers):
    ray = pytest.importorskip("ray")
    since = time.time()
    sessions = [(f"s{i}", i) for i in range(16)]  # 2 shards x ~8 sessions
    scripts = {sid: scripted_actions(seed) for sid, seed in sessions}
    local = {sid: WebShopEnv(**CONFIG) for sid, _ in sessions}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        shards = WebShopShards(2, CONFIG)
        assert {shards.shard_of(sid) for sid, _ in sessions} == {0, 1}
        assert shards.reset_many(sessions) == [local[sid].reset(seed) for sid, seed in sessions]
        for turn in range(max(len(s) for s in scripts.values())):
            batch = [(sid, scripts[sid][turn]) for sid, _ in sessions if turn < len(scripts[sid])]
            remote = shards.step_many(batch)
            for (sid, action), got in zip(batch, remote, strict=True):
                want = local[sid].step(action)
                assert got.observation == want.observation and got.reward == want.reward
                assert (got.terminated, got.truncated) == (want.terminated, want.truncated)
                assert got.info["available_actions"] == local[sid].available_actions()
        assert shards.call_many("success", [sid for sid, _ in sessions]) == [local[sid].success for sid, _ in sessions]
        assert sum(local[sid].success for sid, _ in sessions) >= 12
        shards.reset_many([("p", 3)])
        shards.step_many([("p", scripts["s3"][0])])
        shards.fork_session("p", "p-fork")
        assert shards.shard_of("p-fork") == shards.shard_of("p")
        assert shards.call_many("render", ["p", "p-fork"])[0] == shards.call_many("render", ["p-fork"])[0]
        assert shards.close_many([sid for sid, _ in sessions]) == 16
        assert sum(s["sessions"] for s in shards.stats()) == 2
        shards.shutdown()
    finally:
        ray.shutdown()
    assert not leftovers(since)
