"""vLLM general plugin: keep CPU linear layers on their original weight so veRL can sync it.

On CPU, vLLM's ``process_weights_after_loading`` hands each linear layer to
``dispatch_cpu_unquantized_gemm``, which repacks the weight for oneDNN / sgl kernels and
*replaces* ``layer.weight`` with an empty tensor. veRL's weight sync then loads new actor weights
through ``param.weight_loader`` in place, and fails (``'Parameter' object has no attribute
'weight_loader'``); even where the weight survives (``lm_head``), the packed copy would keep
serving stale values. We swap the dispatcher for one that computes every 2-D linear layer with
``torch.nn.functional.linear`` on the live ``layer.weight``: in-place updates are then seen by
the next forward. Non-2-D weights (conv / MoE) keep vLLM's own handling.

Registered under the ``vllm.general_plugins`` entry point (loaded by every vLLM process) and a
no-op unless ``TSR_VERL_CPU=1``, which only the tsr_verl CPU launcher sets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from tsr_verl_patches import cpu_patches_enabled

logger = logging.getLogger(__name__)

_PATCHED_ATTR = "_tsr_verl_plain_linear"


def make_plain_dispatch(original: Callable[..., None]) -> Callable[..., None]:
    """Wrap vLLM's CPU GEMM dispatcher so 2-D weights use ``F.linear`` on the live weight."""
    import torch

    def dispatch_cpu_unquantized_gemm(layer: Any, remove_weight: bool) -> None:
        weight = getattr(layer, "weight", None)
        if weight is None or weight.is_meta or weight.ndim != 2:
            return original(layer, remove_weight)
        layer.cpu_linear = lambda x, w, bias: torch.nn.functional.linear(x, w, bias)

    setattr(dispatch_cpu_unquantized_gemm, _PATCHED_ATTR, True)
    return dispatch_cpu_unquantized_gemm


def register() -> None:
    """Entry point called by vLLM in each of its processes; idempotent."""
    if not cpu_patches_enabled():
        return
    from vllm.model_executor.layers import utils as layer_utils

    current = layer_utils.dispatch_cpu_unquantized_gemm
    if getattr(current, _PATCHED_ATTR, False):
        return
    layer_utils.dispatch_cpu_unquantized_gemm = make_plain_dispatch(current)
    logger.info("tsr_verl: CPU linear layers use F.linear on live weights (weight sync enabled)")
