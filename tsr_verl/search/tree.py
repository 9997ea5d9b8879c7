"""The recorded search tree: an id for every proposed candidate, the nodes only when asked.

Ids always exist (the ranking refers to them); ``TreeNode`` objects are kept only with
``SearchConfig.record_tree`` (dumps and the viewer). ``kept`` marks the survivors of each turn's
ranking, ``chosen`` the nodes on a returned trajectory.
"""

from __future__ import annotations

from tsr_verl.search.types import Trajectory, TreeNode


class TreeRecorder:
    """Hands out node ids and, when ``record``, keeps the ``TreeNode`` of each."""

    def __init__(self, record: bool) -> None:
        self.nodes: list[TreeNode] | None = [] if record else None
        self._next = 0

    def add(
        self,
        parent: int | None,
        turn: int,
        text: str,
        score: float | None,
        value: float,
        reward: float,
        done: bool,
        valid: bool = True,
    ) -> int:
        node_id, self._next = self._next, self._next + 1
        if self.nodes is not None:
            self.nodes.append(TreeNode(node_id, parent, turn, text, score, value, reward, done, valid))
        return node_id

    def mark_kept(self, node_id: int) -> None:
        if self.nodes is not None:
            self.nodes[node_id].kept = True

    def mark_chosen(self, trajectories: list[Trajectory]) -> None:
        if self.nodes is None:
            return
        for traj in trajectories:
            nid: int | None = traj.node_id
            while nid is not None and nid >= 0:
                self.nodes[nid].chosen = True
                nid = self.nodes[nid].parent
