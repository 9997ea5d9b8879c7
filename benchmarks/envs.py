"""Environment speed: fork vs rebuild-and-replay, and Sokoban room generation.

TSR scores every candidate on a copy of the current episode. TSR_RAGEN gets that copy by
building a fresh env, resetting it to the episode's seed and replaying the action history;
tsr_verl forks (copies the small mutable state). This script measures both side by side, in one
run, on the same machine, and prints their ratio; plus Sokoban generation latency (the TSR issue's
goal: 8x8 / 2 boxes p90 <= 20 ms; RAGEN's generator measured 155 ms p90 on this machine class).

    python benchmarks/envs.py            # ~30 s on 2 cores
    python benchmarks/envs.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import numpy as np
from timing import per_call_us

from tsr_verl.envs import TextEnv, make


def mid_episode(name: str, cfg: dict, seed: int, steps: int) -> tuple[TextEnv, list[str]]:
    """An env ``steps`` random actions into episode ``seed`` (stopping early if it ends)."""
    env, rng, history = make(name, **cfg), np.random.default_rng(seed), []
    env.reset(seed)
    for _ in range(steps):
        if env.done:
            break
        action = env.actions[int(rng.integers(len(env.actions)))]
        env.step(action)
        history.append(action)
    return env, history


def rebuild_and_replay(name: str, cfg: dict, seed: int, history: list[str]) -> TextEnv:
    env = make(name, **cfg)
    env.reset(seed)
    for action in history:
        env.step(action)
    return env


def fork_table(repeat: int, seeds: int) -> None:
    print("fork vs rebuild-from-seed + replay (a copy of the episode after 5 random actions)")
    print(f"{'env':<26}{'fork (µs)':>12}{'rebuild+replay (µs)':>22}{'ratio':>10}")
    for label, name, cfg in [
        ("sokoban 6x6, 1 box", "sokoban", {}),
        ("sokoban 8x8, 2 boxes", "sokoban", {"dim_room": [8, 8], "num_boxes": 2}),
        ("frozenlake 4x4 slippery", "frozenlake", {}),
        ("frozenlake 8x8 slippery", "frozenlake", {"size": 8}),
    ]:
        fork_us, rebuild_us = [], []
        for seed in range(seeds):
            env, history = mid_episode(name, cfg, seed, 5)
            fork_us.append(per_call_us(env.fork, repeat))
            replay = functools.partial(rebuild_and_replay, name, cfg, seed, history)
            rebuild_us.append(per_call_us(replay, max(1, repeat // 50)))
        f, r = statistics.median(fork_us), statistics.median(rebuild_us)
        print(f"{label:<26}{f:>12.1f}{r:>22.1f}{r / f:>9.0f}x")


def generation_table(n: int) -> None:
    print(f"\nSokoban room generation (reset = generate + render), {n} seeds each")
    print(f"{'room':<26}{'p50 (ms)':>10}{'p90 (ms)':>10}{'max (ms)':>10}{'mean optimal length':>22}")
    for label, cfg in [("6x6, 1 box", {}), ("8x8, 2 boxes", {"dim_room": [8, 8], "num_boxes": 2})]:
        env, times, lengths = make("sokoban", **cfg), [], []
        for seed in range(n):
            start = time.perf_counter()
            env.reset(seed)
            times.append((time.perf_counter() - start) * 1e3)
            if seed < 100:
                lengths.append(env.optimal_solution_length())
        p50, p90 = np.percentile(times, [50, 90])
        print(f"{label:<26}{p50:>10.2f}{p90:>10.2f}{max(times):>10.2f}{statistics.mean(lengths):>22.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (noisier)")
    args = parser.parse_args()
    fork_table(repeat=200 if args.quick else 2000, seeds=3 if args.quick else 10)
    generation_table(n=200 if args.quick else 1000)


if __name__ == "__main__":
    main()
