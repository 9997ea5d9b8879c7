"""patches/: each patch does its job when the CPU launch path turns it on, and nothing otherwise.

Every check that imports veRL runs in a fresh interpreter: the platform module patches process
globals on import, and veRL resolves its platform once per process.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest

from tsr_verl.cli.launch import CPU_ENV
from tsr_verl_patches import dedupe_backend


def _run(code: str, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


@pytest.mark.parametrize(
    "backend, expected",
    [
        ("cpu:gloo,cpu:gloo", "cpu:gloo"),
        ("cpu:gloo,cuda:nccl", "cpu:gloo,cuda:nccl"),
        ("gloo", "gloo"),
        ("cpu:gloo, cpu:gloo ,cuda:nccl", "cpu:gloo,cuda:nccl"),
        (None, None),
    ],
)
def test_dedupe_backend(backend, expected):
    assert dedupe_backend(backend) == expected


def test_cpu_platform_answers_verl_device_calls(subprocess_env):
    env = subprocess_env(**CPU_ENV)
    out = _run(
        """
        import importlib.metadata, torch, torch.distributed as dist
        import verl
        from verl.utils.device import get_device_name, get_nccl_backend, get_torch_device, get_device_id
        from verl.utils.flops_counter import get_device_flops
        from verl.utils import distributed as vdist
        assert get_device_name() == "cpu", get_device_name()
        assert get_nccl_backend() == "gloo"
        dev = get_torch_device()
        assert dev.memory_allocated() == 0 and dev.max_memory_reserved() == 0
        free, total = dev.mem_get_info()
        assert 0 < free <= total
        state = dev.get_rng_state(); dev.set_rng_state(state)
        dev.synchronize(); dev.empty_cache()
        assert torch.zeros(2).to(get_device_id()).device.type == "cpu"
        assert get_device_flops() > 0
        assert importlib.metadata.version("vllm").endswith("+cpu")
        # veRL's own process-group init with its "cpu:gloo,cpu:gloo" string, as in a real worker
        import os
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1", MASTER_PORT="29533")
        vdist.initialize_global_process_group_ray()
        t = torch.ones(3); dist.all_reduce(t); assert t.tolist() == [1.0, 1.0, 1.0]
        dist.destroy_process_group()
        import verl.third_party.vllm  # raised "vllm version None not supported" before the patch
        print("ok")
        """,
        env,
    )
    assert out.strip().endswith("ok")


def test_gpu_jobs_are_untouched_without_the_cpu_environment(subprocess_env):
    out = _run(
        """
        import importlib.metadata, torch.distributed as dist
        import verl
        from verl.utils.device import get_device_name
        from verl.plugin.platform.platform_manager import PlatformRegistry
        print(get_device_name(), "cpu" in PlatformRegistry.registered_names(),
              getattr(dist.init_process_group, "_tsr_verl_patched", False),
              getattr(importlib.metadata.version, "_tsr_verl_patched", False))
        """,
        subprocess_env(),
    )
    assert out.split() == ["cuda", "False", "False", "False"]


def test_vllm_plugin_is_registered_as_an_entry_point():
    eps = importlib.metadata.entry_points(group="vllm.general_plugins")
    assert "tsr_verl_patches.vllm_cpu_linear:register" in {ep.value for ep in eps}


def test_vllm_plugin_is_a_noop_without_the_flag(subprocess_env):
    out = _run(
        """
        from vllm.model_executor.layers import utils
        before = utils.dispatch_cpu_unquantized_gemm
        from tsr_verl_patches.vllm_cpu_linear import register
        register()
        print(utils.dispatch_cpu_unquantized_gemm is before)
        """,
        subprocess_env(),
    )
    assert out.split()[-1] == "True"


def test_vllm_plugin_keeps_live_weights_for_in_place_sync(subprocess_env):
    out = _run(
        """
        import torch
        from vllm.model_executor.layers import utils
        from tsr_verl_patches.vllm_cpu_linear import register
        register(); register()  # idempotent
        layer = torch.nn.Linear(64, 32, bias=False)
        utils.dispatch_cpu_unquantized_gemm(layer, remove_weight=True)
        assert layer.weight.shape == (32, 64), "weight was removed"
        x = torch.randn(2, 64)
        y0 = utils.cpu_unquantized_gemm(layer, x, layer.weight)
        with torch.no_grad():
            layer.weight.mul_(2.0)  # what veRL's in-place weight sync does
        y1 = utils.cpu_unquantized_gemm(layer, x, layer.weight)
        torch.testing.assert_close(y1, 2 * y0)
        print("ok")
        """,
        subprocess_env(TSR_VERL_CPU="1", VLLM_TARGET_DEVICE="cpu"),
    )
    assert out.strip().endswith("ok")


def test_critic_loads_with_sdpa_on_cpu(subprocess_env, tiny_model_dir):
    """veRL's value-head loader asks for flash-attention (absent on CPU); the patch loads sdpa."""
    code = textwrap.dedent(
        f"""
        import torch, transformers
        from transformers import AutoConfig
        import verl.utils.model as vm
        cfg = AutoConfig.from_pretrained({str(tiny_model_dir)!r}); cfg.num_labels = 1
        try:
            vm.load_valuehead_model({str(tiny_model_dir)!r}, torch.float32, cfg, False)
            print("unpatched: loaded")
        except BaseException as exc:
            print("unpatched: failed")
        import tsr_verl_patches.verl_cpu_platform  # noqa: F401
        before = transformers.AutoModelForTokenClassification.__dict__.get("from_pretrained")
        model = vm.load_valuehead_model({str(tiny_model_dir)!r}, torch.float32, cfg, False)
        print(type(model).__name__, model.config._attn_implementation)
        print("restored", transformers.AutoModelForTokenClassification.__dict__.get("from_pretrained") is before)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=subprocess_env(), timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "unpatched: failed"  # the problem is real
    assert lines[1] == "LlamaForTokenClassification sdpa"
    assert lines[2] == "restored True"
