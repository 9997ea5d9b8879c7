"""Selection statistics: how far a kept candidate is from what the policy would have played.

TSR trains on *selected* samples of the policy: each kept turn won a comparison with its
siblings (the M candidates its beam proposed). Every token's log-prob is still a genuine sample,
so veRL's rollout correction cannot see the selection; these numbers make it visible per step
(``tsr/kept_logprob`` vs ``tsr/proposed_logprob``, ``tsr/score_gap``, ``tsr/selection_changed``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tsr_verl.envs.parsing import ParsedTurn
from tsr_verl.search.scorers import DEAD
from tsr_verl.search.types import Candidate, Selection


def mean_logprob(candidate: Candidate) -> float:
    """Mean token log-prob of a candidate (NaN when the proposer returned none)."""
    return sum(candidate.logprobs) / len(candidate.logprobs) if candidate.logprobs else math.nan


def selection(
    kept: Candidate,
    kept_parsed: ParsedTurn,
    kept_score: float | None,
    siblings: Sequence[tuple[Candidate, ParsedTurn, float | None]],
) -> Selection:
    """Compare ``kept`` with ``siblings`` (its beam's candidates, itself included)."""

    def mean(values: list[float]) -> float:
        finite = [v for v in values if math.isfinite(v)]
        return sum(finite) / len(finite) if finite else math.nan

    alive = [s for _, _, s in siblings if s is not None and s > DEAD / 2]
    gap = kept_score - mean(alive) if kept_score is not None and alive else math.nan
    changed = sum(1 for _, p, _ in siblings if p.actions != kept_parsed.actions) / len(siblings) if siblings else 0.0
    return Selection(
        kept_logprob=mean_logprob(kept),
        proposed_logprob=mean([mean_logprob(c) for c, _, _ in siblings]),
        score_gap=gap,
        changed=changed,
    )
