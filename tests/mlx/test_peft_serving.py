"""The PEFT path: a LoRA adapter on a tiny random torch llama, served with transformers + peft."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlops.client import MLOpsClient

torch = pytest.importorskip("torch", reason="torch is not installed: pip install torch peft")
peft = pytest.importorskip("peft", reason="peft is not installed: pip install torch peft")
pytestmark = pytest.mark.integration

PROMPTS = ["the model learns", "our service"]


def _tiny_peft(root: Path, tiny_base: Path) -> tuple[Path, Path]:
    """A random 2-layer LlamaForCausalLM (torch) and a LoRA adapter on it, saved by PEFT."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_base))
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    base = root / "torch-base"
    LlamaForCausalLM(config).save_pretrained(str(base))
    tokenizer.save_pretrained(str(base))
    from transformers import AutoModelForCausalLM

    lora = peft.LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    model = peft.get_peft_model(AutoModelForCausalLM.from_pretrained(str(base)), lora)
    adapter = root / "peft-adapter"
    model.save_pretrained(str(adapter))
    return base, adapter


def _greedy(base: Path, adapter: Path, prompts: list[str], max_tokens: int) -> list[str]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model = peft.PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(str(base)), str(adapter)
    )
    out = []
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            tokens = model.eval().generate(
                **ids,
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        out.append(
            tokenizer.decode(tokens[0, ids["input_ids"].shape[1] :], skip_special_tokens=True)
        )
    return out


def test_peft_adapter_folder_serves_like_transformers(tmp_path: Path, tiny_base: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    base, adapter = _tiny_peft(tmp_path, tiny_base)
    client = MLOpsClient.from_project("peft", repo_root=tmp_path)
    try:
        result: dict[str, Any] = client.deploy_model(adapter, "peft_adapter", model_version="v1")
        assert result["labels"]["model_kind"] == "peft-adapter"
        assert result["labels"]["base_model"] == str(base)
        with client.serve(result["bento_tag"]) as server:
            answer = server.generate(PROMPTS, max_tokens=10)
        assert answer["completions"] == _greedy(base, adapter, PROMPTS, 10)
        assert all(0 < n <= 10 for n in answer["completion_tokens"])
    finally:
        client.close()
