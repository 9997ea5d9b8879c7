"""Turn free-form LLM text into environment actions, and apply a turn's actions to an env.

The expected format is RAGEN's: ``<think>reasoning</think><answer>Up || Left</answer>``. The
leading ``<think>`` may be missing, because RAGEN-style prompts prefill it after the chat
template's generation prompt. Parsing never raises: whatever the text, ``parse_turn`` returns a
``ParsedTurn`` of (valid actions, invalid parts, format penalty).

RAGEN's rules, which this module follows by default:
* the answer is split on ``action_sep`` and cut to ``max_actions_per_turn`` parts;
* parts are matched case-insensitively against the env's action words; others are invalid;
* the format penalty (-0.1) applies if any part is invalid or no valid action is found
  (``penalize_partial=False`` penalises only the latter);
* the turn's reward is the sum of the step rewards plus the penalty; stepping stops at the end
  of the episode.

``lenient=True`` helps small models that do not follow the format yet: if the strict format
fails, the first action word anywhere in the text (after ``<answer>`` if present) is played, and
the turn keeps its format penalty. The penalty stays because a free rescue is a reward hack: in a
pilot of the main job (SmolLM2-135M, lr 1e-4, 10 steps, penalty-free rescues) 96 of 128 held-out
first answers came to begin "You're right", played as Right (docs/results.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tsr_verl.envs.core import TextEnv
from tsr_verl.fields import check_bounds, setting

_THINK_ANSWER = re.compile(r"^\s*(?:<think>)?(.*?)</think>\s*<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_ANSWER_ONLY = re.compile(r"^\s*<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]+")
_BRACKETED = re.compile(r"[A-Za-z_]+\[[^\[\]]*\]")


@dataclass(frozen=True)
class ParseConfig:
    """How assistant text is turned into actions (RAGEN's ``agent_proxy`` settings)."""

    action_sep: str = setting("||", nonblank=True)
    """Separator between several actions inside ``<answer>``."""
    max_actions_per_turn: int = setting(2, ge=1)
    """At most this many actions are taken from one answer; extra parts are dropped."""
    enable_think: bool = True
    """Expect ``<think>...</think>`` before ``<answer>``; ``False`` expects only ``<answer>``."""
    format_penalty: float = setting(-0.1, le=0)
    """Reward added to a turn whose answer is malformed (see ``penalize_partial``)."""
    penalize_partial: bool = True
    """RAGEN's rule: penalise a turn with any invalid part, not only one with no valid action."""
    lenient: bool = False
    """If the strict format fails, play the first action word in the text (the turn is still
    penalised as malformed)."""

    def __post_init__(self) -> None:
        check_bounds(self, "ParseConfig")


@dataclass(frozen=True)
class ParsedTurn:
    """The result of parsing one assistant turn."""

    actions: tuple[str, ...]
    """Valid actions in canonical spelling, in order (at most ``max_actions_per_turn``)."""
    invalid: tuple[str, ...]
    """Answer parts that are not actions (stripped), in order."""
    penalty: float
    """Format penalty for this turn (0.0 or ``ParseConfig.format_penalty``)."""
    format_ok: bool
    """Whether the text matched the strict ``<think>/<answer>`` format."""
    answer: str | None = None
    """The text inside ``<answer>`` (None when absent)."""
    dropped: int = 0
    """How many answer parts were beyond ``max_actions_per_turn`` and ignored."""


ActionMatcher = Callable[[str], "str | None"]
"""Maps one answer part to a canonical action or ``None`` (``TextEnv.match_action``)."""


def parse_turn(text: str, actions: Sequence[str] | ActionMatcher, config: ParseConfig | None = None) -> ParsedTurn:
    """Parse ``text`` against ``actions``: a fixed vocabulary (matched case-insensitively) or an
    env's ``match_action`` for free-form action syntaxes. Never raises on any string."""
    cfg = config or ParseConfig()
    if callable(actions):
        match_part = actions
    else:
        vocab = {a.lower(): a for a in actions}

        def match_part(part: str) -> str | None:
            return vocab.get(part.lower())

    text = text if isinstance(text, str) else str(text)
    match = (_THINK_ANSWER if cfg.enable_think else _ANSWER_ONLY).match(text)
    strict: ParsedTurn | None = None
    if match is not None:
        answer = match.group(match.lastindex or 1).strip()
        parts = [p.strip() for p in answer.split(cfg.action_sep) if p.strip()]
        kept, dropped = parts[: cfg.max_actions_per_turn], max(0, len(parts) - cfg.max_actions_per_turn)
        matched = [(p, _safe_match(match_part, p)) for p in kept]
        valid = tuple(m for _, m in matched if m is not None)
        invalid = tuple(p for p, m in matched if m is None)
        penalised = not valid or (cfg.penalize_partial and bool(invalid))
        strict = ParsedTurn(valid, invalid, cfg.format_penalty if penalised else 0.0, True, answer, dropped)
        if valid or not cfg.lenient:
            return strict
    if cfg.lenient:
        rescued = _first_action_word(text, match_part)
        if rescued is not None:
            return ParsedTurn((rescued,), (), cfg.format_penalty, False, None, 0)
    if strict is not None:
        return strict
    return ParsedTurn((), (text.strip()[:200],) if text.strip() else (), cfg.format_penalty, False, None, 0)


def _safe_match(match_part: ActionMatcher, part: str) -> str | None:
    try:
        return match_part(part)
    except Exception:  # an env's matcher must not make parsing raise
        return None


def _first_action_word(text: str, match_part: ActionMatcher) -> str | None:
    """First bracketed action (``click[...]``) or action word in the text, after ``<answer>`` if any."""
    lowered = text.lower()
    start = lowered.rfind("<answer>")
    region = text[start + len("<answer>") :] if start >= 0 else text
    for found in _BRACKETED.finditer(region):
        action = _safe_match(match_part, found.group(0))
        if action is not None:
            return action
    for word in _WORD.findall(region):
        action = _safe_match(match_part, word)
        if action is not None:
            return action
    return None


@dataclass
class TurnOutcome:
    """What applying one parsed turn to an env produced."""

    observation: str
    """The env's observation after the turn (unchanged state if no action was valid)."""
    reward: float
    """Sum of step rewards plus the format penalty."""
    terminated: bool
    """The game reached a terminal state during this turn."""
    truncated: bool
    """The env's step limit ended the episode during this turn."""
    executed: tuple[str, ...]
    """Actions actually stepped (stops early at the end of the episode)."""
    infos: list[dict[str, Any]] = field(default_factory=list)
    """The env's ``info`` dict of every executed step."""

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


def step_turn(env: TextEnv, parsed: ParsedTurn) -> TurnOutcome:
    """Step ``env`` with the turn's valid actions one by one, stopping when the episode ends."""
    reward, executed, infos = parsed.penalty, [], []
    terminated = truncated = False
    for action in parsed.actions:
        if env.done:
            break
        result = env.step(action)
        reward += result.reward
        executed.append(action)
        infos.append(result.info)
        terminated, truncated = result.terminated, result.truncated
        if terminated or truncated:
            break
    return TurnOutcome(env.render(), reward, terminated, truncated, tuple(executed), infos)
