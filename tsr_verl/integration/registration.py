"""Registration of the ``tsr_agent`` and ``tsr_eval`` agent loops in veRL's registry.

``tsr_verl.integration.plugin`` (the ``verl.plugins`` entry point, run by ``import verl`` in every process)
calls ``register``. This module has no import side effects, so ``check_registered`` can tell
whether veRL really loaded the plugin (veRL swallows plugin exceptions, and users can disable
plugins with ``VERL_USE_EXTERNAL_PLUGINS``). The registry stores import paths only; the loop
module is imported by the worker that uses it.
"""

from __future__ import annotations

from pathlib import Path

AGENT_LOOPS = {
    "tsr_agent": "tsr_verl.integration.agent_loop.TSRAgentLoop",
    "tsr_eval": "tsr_verl.integration.agent_loop.TSREvalAgentLoop",
}
AGENT_LOOPS_YAML = Path(__file__).resolve().parent / "agent_loops.yaml"
"""Fallback registration: ``actor_rollout_ref.rollout.agent.agent_loop_config_path=<this file>``."""


def register() -> None:
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    for name, target in AGENT_LOOPS.items():
        _agent_loop_registry.setdefault(name, {"_target_": target})


def check_registered() -> None:
    """Raise ``RuntimeError`` with the fix if veRL did not load this plugin."""
    import verl  # noqa: F401  (runs the plugin entry points)
    from verl.experimental.agent_loop.agent_loop import _agent_loop_registry

    missing = [name for name in AGENT_LOOPS if name not in _agent_loop_registry]
    if missing:
        raise RuntimeError(
            f"veRL does not know the agent loop(s) {missing}. tsr_verl registers them through its "
            "'verl.plugins' entry point: check that tsr_verl is installed in this environment "
            "(pip install -e .) and that VERL_USE_EXTERNAL_PLUGINS is unset, 'auto' or includes 'tsr'. "
            f"Alternatively pass actor_rollout_ref.rollout.agent.agent_loop_config_path={AGENT_LOOPS_YAML}"
        )
