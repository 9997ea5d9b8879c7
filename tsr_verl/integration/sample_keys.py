"""veRL's sample key ``{uid}_{session}_{index}``, parsed in one place.

veRL 0.9.1's V1 trainer stores every agent-loop output in TransferQueue under this key
(``verl/trainer/ppo/v1/replay_buffer.py``), and its validation dump writes the same key in the
``uid`` column:

* ``uid``: the prompt (dataset row) id, shared by the ``rollout.n`` sessions of a GRPO group;
* ``session``: which of those sessions (``0 .. n-1``);
* ``index``: the output's position within a multi-output session (TSR sessions have one).

The key is split from the right, so a uid that itself contains ``_`` still parses (veRL's uids
are UUIDs; the last two parts never contain ``_``). Imports nothing heavy: the eval report uses
it on dump files without veRL.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class SampleKey(NamedTuple):
    """The three parts of a veRL sample key."""

    uid: str
    """Prompt (GRPO group / dataset row) id."""
    session: str
    """Session id within the group."""
    index: int
    """Output index within the session."""

    @property
    def session_key(self) -> str:
        """``{uid}_{session}``: one session, whatever its output index."""
        return f"{self.uid}_{self.session}"


def parse_sample_key(key: str) -> SampleKey:
    """Split ``{uid}_{session}_{index}``; ``ValueError`` names a key that is not one."""
    parts = str(key).rsplit("_", 2)
    if len(parts) != 3 or not all(parts) or not parts[2].isdigit():
        raise ValueError(f"not a veRL sample key '{{uid}}_{{session}}_{{index}}': {key!r}")
    return SampleKey(parts[0], parts[1], int(parts[2]))


def last_output_keys(keys: Iterable[str]) -> list[str]:
    """One key per ``{uid}_{session}`` session: its last output (highest index), in input order.

    GRPO in V1 also scores a multi-output session by its last output
    (``compute_advantage_for_multi_trajectories``); TSR sessions have exactly one output.
    """
    keys = list(keys)
    last: dict[str, tuple[int, str]] = {}
    for key in keys:
        parsed = parse_sample_key(key)
        if parsed.session_key not in last or parsed.index > last[parsed.session_key][0]:
            last[parsed.session_key] = (parsed.index, key)
    chosen = {key for _, key in last.values()}
    return [key for key in keys if key in chosen]
