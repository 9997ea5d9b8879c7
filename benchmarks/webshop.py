"""WebShop speed: search latency, env step throughput (in-process and 2 Ray shards), fork cost.

Runs on generated catalogs (``synthetic:N``; no download). For each size it opens the world
(the first run at a size builds the store, goals and index into the tsr_verl cache: ~35 s at
100k products on 2 cores; later runs reuse them), then measures:

* search latency per query (p50/p90 ms) of the ``bm25s`` and ``tantivy`` backends, uncached,
  on queries made from goal instructions;
* env steps per second of scripted episodes (search, page to the goal product, open it, select
  its options, read the description, go back, buy), in-process and through 2 Ray shard actors
  (one batched call per shard per step; ``ray.init(num_cpus=2)``), with cold search/reward memos;
* fork cost (µs) of a mid-episode env vs building a fresh env and replaying its actions (the
  TSR_RAGEN way), with the search memo warm and cold.

    python benchmarks/webshop.py                 # 1k and 100k products, ~3 min on 2 cores (cached)
    python benchmarks/webshop.py --sizes 1000 --episodes 50 --no-ray
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from timing import per_call_us

from tsr_verl.envs.webshop.env import WebShopEnv
from tsr_verl.envs.webshop.search import make_backend


def script(env: WebShopEnv, seed: int) -> list[str]:
    """A scripted episode on ``env`` (reset to ``seed``): the actions it played."""
    env.reset(seed)
    goal, played = env.goal, []

    def act(action: str) -> bool:
        if env.done or env.match_action(action) is None:
            return False
        played.append(action)
        env.step(action)
        return True

    act(f"search[{goal.instruction_text.split(' with ')[0].split(', and price')[0]}]")
    while f"click[{goal.asin.lower()}]" not in env.available_actions() and act("click[next >]"):
        pass
    if not act(f"click[{goal.asin.lower()}]"):  # not found: open the first hit instead
        act(next((a for a in env.available_actions() if a.startswith("click[b")), "click[back to search]"))
    opts = goal.goal_options
    for value in opts.values() if hasattr(opts, "values") else opts:
        act(f"click[{str(value).lower().replace('/', ' | ')}]")
    act("click[description]")
    act("click[< prev]")
    act("click[buy now]")
    return played


def percentiles_ms(fn: Callable[[str], object], queries: list[str]) -> tuple[float, float]:
    times = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        times.append((time.perf_counter() - start) * 1e3)
    p50, p90 = np.percentile(times, [50, 90])
    return float(p50), float(p90)


def in_process_steps_per_s(env: WebShopEnv, scripts: dict[int, list[str]]) -> float:
    env.world.clear_caches()
    steps, start = 0, time.perf_counter()
    for seed, actions in scripts.items():
        env.reset(seed)
        for a in actions:
            env.step(a)
        steps += len(actions)
    return steps / (time.perf_counter() - start)


def ray_steps_per_s(cfg: dict, scripts: dict[int, list[str]], sessions: int) -> float:
    import ray

    from tsr_verl.envs.webshop.shards import WebShopShards

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        shards = WebShopShards(2, cfg)  # actors are up and their worlds open
        seeds, steps, start = list(scripts), 0, time.perf_counter()
        for lo in range(0, len(seeds), sessions):  # waves of `sessions` concurrent episodes
            wave = {f"s{s}": s for s in seeds[lo : lo + sessions]}
            shards.reset_many(list(wave.items()))
            for turn in range(max(len(scripts[s]) for s in wave.values())):
                batch = [(sid, scripts[s][turn]) for sid, s in wave.items() if turn < len(scripts[s])]
                shards.step_many(batch)
                steps += len(batch)
            shards.close_many(list(wave))
        rate = steps / (time.perf_counter() - start)
        shards.shutdown()
        return rate
    finally:
        ray.shutdown()


def fork_vs_replay(env: WebShopEnv, cfg: dict, seed: int, actions: list[str], repeat: int) -> tuple[float, ...]:
    env.reset(seed)
    for a in actions:
        env.step(a)

    def rebuild(cold: bool) -> None:
        if cold:
            env.world.clear_caches()
        fresh = WebShopEnv(**cfg)
        fresh.reset(seed)
        for a in actions:
            fresh.step(a)

    fork = per_call_us(env.fork, repeat)
    return fork, per_call_us(lambda: rebuild(False), max(1, repeat // 100)), per_call_us(lambda: rebuild(True), 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="catalog sizes (products)")
    parser.add_argument("--episodes", type=int, default=200, help="scripted episodes per throughput run")
    parser.add_argument("--queries", type=int, default=200, help="queries per search-latency run")
    parser.add_argument("--sessions", type=int, default=32, help="concurrent sessions over the 2 Ray shards")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray shard run")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        cfg = {"data_dir": f"synthetic:{n}", "max_steps": 40}
        start = time.perf_counter()
        env = WebShopEnv(**cfg)
        opened = time.perf_counter() - start
        goals = env.world.goals
        picks = [int(i) for i in np.random.default_rng(0).choice(len(goals), size=args.episodes, replace=False)]
        scripts = {s: script(env, s) for s in picks}
        queries = [goals[s].instruction_text.split(" with ")[0] for s in picks[: args.queries]]
        search = {}
        for name in ("bm25s", "tantivy"):
            backend = make_backend(name, env.world.catalog, env.world.catalog.folder)
            search[name] = percentiles_ms(backend.search, queries)
        local = in_process_steps_per_s(env, scripts)
        shards = float("nan") if args.no_ray else ray_steps_per_s(cfg, scripts, args.sessions)
        mid = next(s for s in picks if len(scripts[s]) >= 4)
        fork = fork_vs_replay(env, cfg, mid, scripts[mid][:4], repeat=20000)
        rows.append((n, len(goals), opened, search, local, shards, fork))
        print(f"done: {n} products ({len(goals)} goals, world opened in {opened:.1f} s)", flush=True)

    print("\nsearch latency per query (ms), uncached")
    print(f"{'products':>9}{'bm25s p50':>11}{'bm25s p90':>11}{'tantivy p50':>13}{'tantivy p90':>13}")
    for n, _, _, search, *_ in rows:
        (b50, b90), (t50, t90) = search["bm25s"], search["tantivy"]
        print(f"{n:>9}{b50:>11.2f}{b90:>11.2f}{t50:>13.2f}{t90:>13.2f}")
    print("\nenv steps per second (scripted episodes, cold memos; resets included)")
    print(f"{'products':>9}{'in-process':>12}{'2 Ray shards':>14}")
    for n, _, _, _, local, shards, _ in rows:
        print(f"{n:>9}{local:>12.0f}{shards:>14.0f}")
    print("\nfork vs fresh env + replay of 4 actions (µs)")
    print(f"{'products':>9}{'fork':>8}{'replay (warm)':>15}{'replay (cold)':>15}{'cold/fork':>11}")
    for n, *_, (fork, warm, cold) in rows:
        print(f"{n:>9}{fork:>8.1f}{warm:>15.0f}{cold:>15.0f}{cold / fork:>10.0f}x")


if __name__ == "__main__":
    main()
