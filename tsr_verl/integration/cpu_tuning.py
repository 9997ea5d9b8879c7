"""Speed settings for veRL on a CPU, chosen from what this machine measurably does fastest.

``launch.CPU_OVERRIDES`` make veRL *run* on a CPU; the settings here make it *fast*. Each was
measured with ``benchmarks/train_step.py`` (figures in ``patches/README.md``):

* **Compute dtype.** veRL trains in bf16 (FSDP mixed precision) and vLLM serves in bf16. On a CPU
  with AMX / AVX-512-BF16 that is the fast choice (~5x fp32 on a 2048^2 matmul); on a CPU without
  native bf16 (AVX2 only) torch's bf16 matmul is ~40x *slower* than fp32 (0.6 vs 27 GFLOP/s on a
  2-core AMD EPYC) and both the rollout and the update crawl. So the dtype is picked by timing one
  matmul in each on this machine (cached per CPU and torch version); ``$TSR_VERL_CPU_DTYPE``
  (``bf16`` / ``fp32``) forces it.
* **Torch threads in Ray workers.** Ray starts actors that reserve no CPUs with
  ``OMP_NUM_THREADS=1``, so the FSDP actor computed on one core of two. The launcher sets
  ``OMP_NUM_THREADS`` to the cores this process may use (a value already set wins).

``$TSR_VERL_CPU_TUNING=0`` turns all of this off (stock veRL behaviour on the CPU path; the
benchmark's "default" arm). GPU jobs never see these settings.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path

from tsr_verl.io import cache_dir, write_json

DTYPES = ("bf16", "fp32")
"""Compute dtypes the CPU path can train and serve in."""
_VLLM_DTYPE = {"bf16": "bfloat16", "fp32": "float32"}


def enabled() -> bool:
    """False when ``$TSR_VERL_CPU_TUNING`` is ``0``/``false``/``off``."""
    return os.environ.get("TSR_VERL_CPU_TUNING", "1").strip().lower() not in ("0", "false", "off", "no")


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def matmul_gflops(dtype: str, n: int = 512, seconds: float = 0.3, threads: int | None = None) -> float:
    """GFLOP/s of an ``n x n`` matmul in ``dtype`` (``bf16``/``fp32``), timed for ~``seconds``
    after one warm-up call (2 n^3 flops per call)."""
    import torch

    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads or cores())
    try:
        tdtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        a, b = torch.randn(n, n, dtype=tdtype), torch.randn(n, n, dtype=tdtype)
        a @ b
        calls, start = 0, time.perf_counter()
        while True:
            a @ b
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return 2 * n**3 * calls / elapsed / 1e9
    finally:
        torch.set_num_threads(before)


def _machine_key() -> str:
    """CPU model, ISA flags and torch version: what decides the faster dtype."""
    import torch

    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else platform.processor()
    first_cpu = info.split("\n\n", 1)[0]
    lines = [ln for ln in first_cpu.splitlines() if ln.startswith(("model name", "flags"))]
    raw = "\n".join(lines) + f"\ntorch={torch.__version__}\ncores={cores()}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def measure_dtypes() -> dict[str, float]:
    """``{"bf16": GFLOP/s, "fp32": GFLOP/s}`` on this machine, cached in
    ``<cache>/cpu_matmul/<machine>.json`` (delete it to measure again)."""
    path = cache_dir() / "cpu_matmul" / f"{_machine_key()}.json"
    if path.is_file():
        try:
            cached = json.loads(path.read_text())
            if set(cached) == set(DTYPES):
                return {k: float(v) for k, v in cached.items()}
        except (ValueError, TypeError):
            pass  # a damaged cache file is measured again
    result = {dtype: matmul_gflops(dtype) for dtype in DTYPES}
    write_json(result, path)
    return result


def compute_dtype() -> str:
    """``$TSR_VERL_CPU_DTYPE`` if set, else the faster of bf16 and fp32 here (bf16 on a tie
    within 10%, since it halves memory)."""
    forced = os.environ.get("TSR_VERL_CPU_DTYPE", "").strip().lower()
    if forced:
        if forced not in DTYPES:
            raise ValueError(f"TSR_VERL_CPU_DTYPE must be one of {DTYPES}, got {forced!r}")
        return forced
    speed = measure_dtypes()
    return "bf16" if speed["bf16"] >= 0.9 * speed["fp32"] else "fp32"


def environment() -> dict[str, str]:
    """Environment additions (the launcher lets values already set win)."""
    return {"OMP_NUM_THREADS": str(cores())} if enabled() else {}


def overrides(dtype: str | None = None) -> list[str]:
    """Hydra overrides for ``dtype`` (default :func:`compute_dtype`); none when tuning is off or
    the dtype is bf16 (veRL's and vLLM's own default)."""
    if not enabled():
        return []
    dtype = dtype or compute_dtype()
    if dtype == "bf16":
        return []
    precision = "{param_dtype:fp32,reduce_dtype:fp32,buffer_dtype:fp32}"
    return [
        f"actor_rollout_ref.rollout.dtype={_VLLM_DTYPE[dtype]}",
        f"+actor_rollout_ref.actor.fsdp_config.mixed_precision={precision}",
        f"+actor_rollout_ref.ref.fsdp_config.mixed_precision={precision}",
        f"+critic.fsdp.mixed_precision={precision}",
    ]
