"""Chat messages for a text-game episode, in RAGEN's style, for any chat template.

An episode is one conversation: a system message (assistant role, game rules, available actions
and the answer format), then one user message per turn::

    Reward: -0.1                       <- from the previous turn (omitted on turn 1)
    Your last answer was invalid ...   <- only after a turn with a format penalty
    Turn 2:
    State:
    #####
    #P_X#
    ...
    You have 8 actions left. Always answer as <think>...</think><answer>...</answer> ...

Messages are plain ``{"role", "content"}`` dicts; the tokenizer's chat template renders them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tsr_verl.envs.core import TextEnv
from tsr_verl.envs.parsing import ParseConfig

Message = dict[str, str]
"""One chat message, ``{"role": ..., "content": ...}``: the one definition every layer uses (prompts
here, the search ``Context``, the veRL proposer, the warm-start data), as chat templates take it."""


@dataclass(frozen=True)
class PromptConfig:
    """Wording knobs of the episode conversation."""

    system: str = "You're a helpful assistant."
    """First sentence of the system message (RAGEN's default)."""
    max_response_words: int | None = 100
    """If set, each turn asks for answers of at most this many words (RAGEN does)."""
    show_reward: bool = True
    """Start each user turn with the previous turn's reward, as RAGEN does."""
    invalid_warning: str = "Your last answer was invalid: no valid action was found, so the state did not change."
    """Sentence shown after a turn that had no valid action."""


def answer_format(parse: ParseConfig) -> str:
    """The answer-format sentence, consistent with the parser's settings."""
    body = "<answer> [your answer] </answer>"
    return f"<think> [your thoughts] </think> {body}" if parse.enable_think else body


def system_message(env: TextEnv, parse: ParseConfig | None = None, prompt: PromptConfig | None = None) -> Message:
    """System message: role sentence, the env's rules, the action words and the answer format."""
    parse, prompt = parse or ParseConfig(), prompt or PromptConfig()
    sep = f" {parse.action_sep.strip()} "
    example = sep.join(env.actions[: min(2, parse.max_actions_per_turn)])
    lines = [
        prompt.system,
        env.instructions.strip(),
        f"Valid actions: {', '.join(env.actions)}.",
        f"You may take up to {parse.max_actions_per_turn} action(s) per turn, separated by '{sep.strip()}', "
        f"e.g. <answer>{example}</answer>.",
        f"Always answer in the form {answer_format(parse)} with no extra text.",
    ]
    return {"role": "system", "content": "\n".join(lines)}


def listed_actions(env: TextEnv) -> tuple[str, ...] | None:
    """What a turn message lists for ``env``: its available actions if it ``lists_actions``."""
    return env.available_actions() if env.lists_actions else None


def turn_message(
    turn: int,
    observation: str,
    actions_left: int,
    *,
    last_reward: float | None = None,
    last_invalid: bool = False,
    parse: ParseConfig | None = None,
    prompt: PromptConfig | None = None,
    available: Sequence[str] | None = None,
) -> Message:
    """The user message that opens turn ``turn`` (1-based) showing ``observation``; ``available``
    (the env's ``available_actions()`` when it ``lists_actions``) is listed after the state."""
    parse, prompt = parse or ParseConfig(), prompt or PromptConfig()
    if turn < 1:
        raise ValueError(f"turn is 1-based, got {turn}")
    lines: list[str] = []
    if prompt.show_reward and last_reward is not None:
        lines.append(f"Reward: {last_reward:g}")
    if last_invalid:
        lines.append(prompt.invalid_warning)
    lines += [f"Turn {turn}:", "State:", observation.rstrip("\n")]
    if available:
        lines.append(f"Available actions: {', '.join(available)}")
    ask = f"You have {actions_left} actions left. Always answer as {answer_format(parse)}."
    if prompt.max_response_words:
        ask += f" Max response length: {prompt.max_response_words} words."
    lines.append(ask)
    return {"role": "user", "content": "\n".join(lines)}


def initial_messages(
    env: TextEnv,
    observation: str,
    actions_left: int,
    parse: ParseConfig | None = None,
    prompt: PromptConfig | None = None,
) -> list[Message]:
    """``[system, turn 1]``: the prompt a dataset row stores for an episode."""
    return [
        system_message(env, parse, prompt),
        turn_message(1, observation, actions_left, parse=parse, prompt=prompt, available=listed_actions(env)),
    ]
