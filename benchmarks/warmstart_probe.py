"""How much a (warm-started) policy knows about FrozenLake before RL: its action mass on moves
that shorten the shortest path to the goal, on the first turn of held-out maps.

For each map the four well-formed answers of the warm-start (``answer_text``) are scored by the
model (sum of token log-probabilities after the chat prompt) and normalised into a distribution
over actions; the probe reports the mean mass on shortest-path moves next to what a
uniform policy would put there. A format-only warm-start scores at the uniform level (it ignores
the board); the learning-curve experiment's expert-answer warm-start is chosen to score above it.
No sampling, no vLLM: a plain transformers forward pass, so it runs in seconds on a tiny model.

    python benchmarks/warmstart_probe.py runs/learning_curve/model_warm_... [--observation grid_coord] [--maps 150]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tsr_verl.envs import make
from tsr_verl.envs.parsing import ParseConfig
from tsr_verl.envs.prompts import initial_messages
from tsr_verl.integration.warmstart import answer_text, best_moves

FIRST_HELD_OUT_SEED = 10_000  # far from the warm-start's own seeds (seed * 1_000_003 + i)


def probe(model_dir: Path, observation: str, maps: int, max_actions: int = 4) -> tuple[float, float]:
    """(mean policy mass on shortest-path moves, the same for a uniform policy) over ``maps``
    non-slippery 4x4 boards."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    env = make("frozenlake", size=4, p=0.8, is_slippery=False, observation_format=observation)
    mass, uniform = [], []
    for seed in range(FIRST_HELD_OUT_SEED, FIRST_HELD_OUT_SEED + maps):
        chat = initial_messages(env, env.reset(seed), max_actions, ParseConfig(max_actions_per_turn=1))
        prompt = tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        start = len(tokenizer(prompt).input_ids)
        scores = []
        for action in env.actions:
            ids = tokenizer(prompt + answer_text(action)).input_ids
            ids_t = torch.tensor([ids])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids_t).logits[0, :-1].float(), dim=-1)
            scores.append(logp[torch.arange(start - 1, len(ids) - 1), ids_t[0, start:]].sum().item())
        probs = np.exp(np.array(scores) - max(scores))
        probs /= probs.sum()
        best = best_moves(env)
        good = np.array([a in best for a in env.actions])
        mass.append(float(probs[good].sum()))
        uniform.append(float(good.mean()))
    return float(np.mean(mass)), float(np.mean(uniform))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="HF model folder")
    parser.add_argument("--observation", choices=["grid", "grid_coord"], default="grid_coord")
    parser.add_argument("--maps", type=int, default=150, help="held-out maps (first turn of each)")
    ns = parser.parse_args()
    if ns.maps < 1:
        parser.error(f"--maps must be >= 1, got {ns.maps}")
    if not (ns.model / "config.json").is_file():
        parser.error(f"{ns.model} is not a model folder (no config.json)")
    mass, uniform = probe(ns.model, ns.observation, ns.maps)
    print(f"{ns.model}: action mass on shortest-path moves {mass:.3f} (uniform policy: {uniform:.3f}; {ns.maps} maps)")


if __name__ == "__main__":
    main()
