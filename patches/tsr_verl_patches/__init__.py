"""Patches that make stock veRL 0.9.1 + vLLM run on a CPU-only machine.

Everything here changes veRL/vLLM behaviour, so it lives outside ``tsr_verl`` and is inert
unless the CPU launch path (``tsr_verl.cli.launch``) turns it on:

* :mod:`tsr_verl_patches.verl_cpu_platform` -- a veRL platform named ``cpu``; imported only
  when ``VERL_USE_EXTERNAL_MODULES`` names it and selected only by ``VERL_PLATFORM=cpu``.
* :mod:`tsr_verl_patches.vllm_cpu_linear` -- a vLLM general plugin; a no-op unless
  ``TSR_VERL_CPU=1``.

See ``patches/README.md`` for why each exists and its upstream status.
"""

import os
from typing import Any

#: Environment variable that switches the CPU patches on (set by ``tsr_verl.cli.launch``).
ENABLE_ENV = "TSR_VERL_CPU"


def cpu_patches_enabled() -> bool:
    """True when the CPU launch path asked for the patches (``TSR_VERL_CPU=1``)."""
    return os.environ.get(ENABLE_ENV, "0").strip().lower() in ("1", "true", "yes")


def dedupe_backend(backend: Any) -> Any:
    """``"cpu:gloo,cpu:gloo"`` -> ``"cpu:gloo"``; any other value is returned unchanged."""
    if not isinstance(backend, str) or "," not in backend:
        return backend
    seen: dict[str, str] = {}
    for part in (p.strip() for p in backend.split(",")):
        device, sep, _ = part.partition(":")
        key = device if sep else part
        seen.setdefault(key, part)
    return ",".join(seen.values())
