"""The format warm-start used by the CPU learning-curve experiment (tsr_verl/integration/warmstart.py)."""

from __future__ import annotations

from collections import Counter

from tsr_verl.envs import make
from tsr_verl.envs.parsing import ParseConfig, parse_turn
from tsr_verl.integration.warmstart import _encode, format_examples, warm_start

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
