"""``RandomPolicy``: a seeded, scripted proposer, for tests and model-free benchmarks.

It stands in for an LLM where only the search is under test: each answer is 1 or 2 random valid
actions in RAGEN's format, or (with probability ``junk``) text that names no action, drawn from a
hash of (seed, turn, call number), so two runs that make the same calls get the same answers.
For envs that list their actions in the prompt (WebShop), actions come from the last prompt's
``Available actions:`` line. Token ids and log-probs are derived from the same hash, so kept
turns can be traced back to the call that proposed them.
"""

from __future__ import annotations

import hashlib
import re

from tsr_verl.search.types import Candidate, Context

_LISTED = re.compile(r"(?:search|click)\[[^\]]*\]")


class RandomPolicy:
    """``Proposer`` answering with seeded random actions (see the module docstring)."""

    def __init__(
        self, actions: tuple[str, ...], seed: int | str = 0, junk: float = 0.3, junk_text: str = "no idea"
    ) -> None:
        if not 0.0 <= junk <= 1.0:
            raise ValueError(f"RandomPolicy: junk must be in [0, 1], got {junk}")
        self.actions, self.seed, self.junk, self.junk_text = tuple(actions), seed, junk, junk_text
        self.calls = 0

    def _vocab(self, context: Context) -> list[str]:
        last = context.chat()[-1]["content"]
        if "Available actions:" not in last:
            return list(self.actions)
        listed = _LISTED.findall(last.split("Available actions:")[-1])
        return [a.replace("<your query>", "shoes") for a in listed] or list(self.actions)

    async def __call__(self, context: Context, k: int, *, greedy: bool = False) -> list[Candidate]:
        vocab, out = self._vocab(context), []
        for _ in range(k):
            h = hashlib.sha256(f"{self.seed}|{len(context.turns)}|{self.calls}".encode()).digest()
            self.calls += 1
            acts = [vocab[b % len(vocab)] for b in h[:2]][: 1 + h[2] % 2]
            text = self.junk_text if h[3] < 256 * self.junk else f"<think>.</think><answer>{' || '.join(acts)}</answer>"
            out.append(Candidate(text, tuple(h[4:8]), tuple(-b / 255 for b in h[4:8])))
        return out
