"""The format warm-start used by the CPU learning-curve experiment (tsr_verl/integration/warmstart.py)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tsr_verl.envs import make
from tsr_verl.envs.parsing import ParseConfig, parse_turn
from tsr_verl.integration.warmstart import _encode, expert_action, format_examples, warm_start

ENV = {"size": 4, "p": 0.8, "is_slippery": False}


def test_examples_end_in_a_well_formed_random_action():
    examples = format_examples("frozenlake", ENV, 400, seed=3)
    env = make("frozenlake", **ENV)
    chosen = Counter()
    for chat in examples:
        assert chat[0]["role"] == "system" and chat[-1]["role"] == "assistant"
        parsed = parse_turn(chat[-1]["content"], env.actions, ParseConfig(max_actions_per_turn=1))
        assert parsed.format_ok and parsed.penalty == 0 and len(parsed.actions) == 1
        chosen[parsed.actions[0]] += 1
    assert {len(c) for c in examples} > {3}, "some conversations have later turns"
    # Uniformly random actions: every action is taught, none dominates (400 draws, p = 1/4).
    assert set(chosen) == set(env.actions) and max(chosen.values()) < 140
    assert format_examples("frozenlake", ENV, 5, seed=3) == examples[:5]


def test_labels_cover_only_the_last_answer(smollm2_tokenizer_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_tokenizer_dir)
    chat = format_examples("frozenlake", ENV, 1, seed=0)[0]
    ids, labels = _encode(tokenizer, chat)
    supervised = [t for t, lab in zip(ids, labels, strict=True) if lab != -100]
    assert tokenizer.decode(supervised).startswith(chat[-1]["content"])
    assert len(supervised) < 40 < len(ids)


def test_warm_start_lowers_the_answer_loss_and_saves_a_loadable_model(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "warm"
    losses = warm_start(tiny_model_dir, out, "frozenlake", ENV, steps=20, batch_size=4, lr=3e-3)
    assert losses["loss_last"] < 0.5 * losses["loss_first"]
    assert AutoModelForCausalLM.from_pretrained(out).config.hidden_size == 128


def test_expert_action_is_a_shortest_path_move():
    env = make("frozenlake", **ENV)
    rng = np.random.default_rng(0)
    for seed in range(200):
        env.reset(seed)
        before = env.shortest_path_length()
        action = expert_action(env, rng)
        (_, cell), *_ = env.transition_probs(action)
        assert env.shortest_path_length(cell) == before - 1, (seed, action)


def test_expert_fraction_sets_how_many_answers_follow_the_shortest_path():
    env = make("frozenlake", **ENV)

    def on_path_share(expert: float) -> float:
        hits = total = 0
        for i, chat in enumerate(format_examples("frozenlake", ENV, 300, seed=5, expert=expert)):
            if len(chat) != 3:  # first-turn answers only: their board is the reset one
                continue
            env.reset(5 * 1_000_003 + i)
            action = parse_turn(chat[-1]["content"], env.actions, ParseConfig(max_actions_per_turn=1)).actions[0]
            (_, cell), *_ = env.transition_probs(action)
            hits += env.shortest_path_length(cell) == env.shortest_path_length() - 1
            total += 1
        return hits / total

    assert on_path_share(1.0) == 1.0
    # Random moves shorten the path about a third of the time; half expert lands in between.
    assert on_path_share(0.0) < 0.5 < on_path_share(0.5) < 0.9
    with pytest.raises(ValueError, match="expert fraction must be in"):
        format_examples("frozenlake", ENV, 1, seed=0, expert=1.5)
