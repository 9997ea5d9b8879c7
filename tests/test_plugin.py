"""Registration of the TSR agent loops: entry point, disabled plugins, and the YAML fallback."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_py(code: str, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=180
    )


def test_import_verl_registers_both_loops(subprocess_env):
    out = run_py(
        """
        import verl
        from verl.experimental.agent_loop.agent_loop import _agent_loop_registry as r
        from tsr_verl.integration.registration import check_registered
        check_registered()
        print(r["tsr_agent"]["_target_"], r["tsr_eval"]["_target_"])
        """,
        subprocess_env(),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [
        "tsr_verl.integration.agent_loop.TSRAgentLoop",
        "tsr_verl.integration.agent_loop.TSREvalAgentLoop",
    ]


def test_disabled_plugins_give_a_clear_fix_and_the_yaml_fallback_works(subprocess_env):
    out = run_py(
        """
        import hydra.utils, verl
        from omegaconf import OmegaConf
        from verl.experimental.agent_loop.agent_loop import _agent_loop_registry as r
        from tsr_verl.integration.registration import AGENT_LOOPS_YAML, check_registered
        assert "tsr_agent" not in r
        try:
            check_registered()
        except RuntimeError as exc:
            print("ERROR", exc)
        # What veRL's AgentLoopWorker does with agent_loop_config_path: every entry's target resolves.
        for entry in OmegaConf.load(AGENT_LOOPS_YAML):
            print(entry.name, hydra.utils.get_class(entry._target_).__name__, dict(entry.tsr))
        """,
        subprocess_env(VERL_USE_EXTERNAL_PLUGINS="none"),
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("ERROR") and "agent_loop_config_path=" in lines[0] and "agent_loops.yaml" in lines[0]
    assert lines[1:] == ["tsr_agent TSRAgentLoop {}", "tsr_eval TSREvalAgentLoop {}"]
