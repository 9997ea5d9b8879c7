"""Format warm-start: teach a small model the answer format (and, optionally, a little of the task).

A tiny random model (or a 135M one) almost never writes ``<think>...</think><answer>Up</answer>``
on its own, so RL would spend its first hundreds of steps on the format alone. For the CPU
learning-curve experiment we supervise a few hundred short examples whose answers are
*uniformly random* valid actions in the right format: the warm-started policy then answers in
format but knows nothing about the game (its actions ignore the board), and anything it learns
later about the task comes from RL. Conversations have 1-3 turns (earlier turns played with
random actions), so the format holds in later turns too. Loss is on the answer tokens only.

``expert`` (FrozenLake only, default 0) makes that fraction of the supervised answers name a
shortest-path move instead of a random one. The learning-curve experiment uses ``expert=1`` for
600 steps, short of convergence: the tiny model then puts about half its action mass on
shortest-path moves, so RL starts from non-zero success *and* board features it can sharpen; a
model that knows nothing about the board did not learn in the few hundred episodes a CPU affords
(docs/results.md, pilots).

    from tsr_verl.integration.warmstart import warm_start
    warm_start(model_dir, out_dir, "frozenlake", {"size": 4, "is_slippery": False}, steps=150)
    warm_start(model_dir, out_dir, "frozenlake", {...}, steps=150, expert=1.0)  # expert answers
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tsr_verl.envs import make
from tsr_verl.envs.parsing import ParseConfig, parse_turn, step_turn
from tsr_verl.envs.prompts import Message, initial_messages, turn_message


def answer_text(action: str) -> str:
    """The supervised answer naming ``action``, in the prompt's format."""
    return f"<think>I will try {action}.</think><answer>{action}</answer>"


def random_answer(rng: np.random.Generator, actions: tuple[str, ...]) -> str:
    """A well-formed answer naming one uniformly random action."""
    return answer_text(actions[int(rng.integers(len(actions)))])


def best_moves(env: Any) -> list[str]:
    """The moves that shorten the shortest path to the goal the most, in ``env.actions`` order.

    Needs FrozenLake's read-only helpers (``transition_probs``, ``shortest_path_length``); the
    expected remaining distance is used, so it is also defined on slippery ice (a hole or an
    unreachable tile counts as infinitely far)."""
    if not (hasattr(env, "transition_probs") and hasattr(env, "shortest_path_length")):
        raise ValueError(f"warm-start expert answers need FrozenLake's path helpers; {type(env).__name__} has none")

    def expected_distance(action: str) -> float:
        total = 0.0
        for prob, cell in env.transition_probs(action):
            dist = env.shortest_path_length(cell)
            total += prob * (float("inf") if dist is None else dist)
        return total

    costs = [expected_distance(a) for a in env.actions]
    return [a for a, c in zip(env.actions, costs, strict=True) if c == min(costs)]


def expert_action(env: Any, rng: np.random.Generator) -> str:
    """One of ``best_moves`` (ties broken at random): the warm-start's expert answer."""
    best = best_moves(env)
    return best[int(rng.integers(len(best)))]


def format_examples(
    env_name: str,
    env_config: Mapping[str, Any],
    n: int,
    seed: int,
    max_actions: int = 5,
    parse: ParseConfig | None = None,
    expert: float = 0.0,
) -> list[list[Message]]:
    """``n`` conversations ending in an assistant answer in the correct format, naming a random
    action, or with probability ``expert`` a shortest-path one (``expert_action``)."""
    if not 0.0 <= expert <= 1.0:
        raise ValueError(f"warm-start expert fraction must be in [0, 1], got {expert}")
    parse = parse or ParseConfig(max_actions_per_turn=1)
    rng = np.random.default_rng(seed)
    examples = []

    def answer_for(env: Any) -> str:
        if expert > 0 and rng.random() < expert:
            return answer_text(expert_action(env, rng))
        return random_answer(rng, env.actions)

    for i in range(n):
        env = make(env_name, **env_config)
        obs = env.reset(seed * 1_000_003 + i)
        chat = initial_messages(env, obs, max_actions, parse)
        for turn in range(1, 1 + int(rng.integers(1, 4))):
            answer = answer_for(env)
            outcome = step_turn(env, parse_turn(answer, env.match_action, parse))
            chat.append({"role": "assistant", "content": answer})
            if outcome.done or turn == max_actions:
                break
            if rng.random() < 0.5:  # stop here: this answer is the supervised one
                break
            chat.append(
                turn_message(turn + 1, outcome.observation, max_actions - turn, last_reward=outcome.reward, parse=parse)
            )
        if chat[-1]["role"] != "assistant":
            chat.append({"role": "assistant", "content": answer_for(env)})
        examples.append(chat)
    return examples


def _encode(tokenizer: Any, chat: list[Message]) -> tuple[list[int], list[int]]:
    """Token ids of the chat and labels (-100 except on the last answer and its end token)."""

    def ids(messages: list[Message], gen: bool) -> list[int]:
        out = tokenizer.apply_chat_template(messages, add_generation_prompt=gen, tokenize=True)
        return list(out["input_ids"] if hasattr(out, "keys") else out)

    prompt = ids(chat[:-1], True)
    full = ids(chat, False)
    if full[: len(prompt)] != prompt:
        raise ValueError("the chat template does not extend the prompt with the answer; cannot mask labels")
    labels = [-100] * len(prompt) + full[len(prompt) :]
    return full, labels


def warm_start(
    model_dir: Path,
    out_dir: Path,
    env_name: str,
    env_config: Mapping[str, Any],
    steps: int = 150,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    max_actions: int = 5,
    expert: float = 0.0,
) -> dict[str, float]:
    """Fine-tune ``model_dir`` on well-formed answers (random actions, a fraction ``expert`` of
    shortest-path ones), save to ``out_dir`` (atomically).

    Returns ``{"loss_first": ..., "loss_last": ...}`` (mean answer-token loss of the first and
    last 10 steps)."""
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tsr_verl.integration.models import atomic_dir

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    data = [
        _encode(tokenizer, c)
        for c in format_examples(env_name, env_config, steps * batch_size, seed, max_actions, expert=expert)
    ]
    optim = torch.optim.AdamW(model.parameters(), lr=lr)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    losses = []
    model.train()
    for step in tqdm(range(steps), desc="format warm-start", unit="step"):
        batch = data[step * batch_size : (step + 1) * batch_size]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in batch])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
        mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch])
        # Logits only where a label exists: the full [batch, length, vocab] tensor would be ~1 GB.
        hidden = model.model(input_ids=input_ids, attention_mask=mask).last_hidden_state[:, :-1]
        targets = labels[:, 1:]
        keep = targets != -100
        loss = torch.nn.functional.cross_entropy(model.lm_head(hidden[keep]).float(), targets[keep])
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    with atomic_dir(Path(out_dir)) as tmp:
        model.to(torch.bfloat16).save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
    return {"loss_first": float(np.mean(losses[:10])), "loss_last": float(np.mean(losses[-10:]))}
