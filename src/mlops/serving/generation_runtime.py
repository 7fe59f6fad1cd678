"""Text generation for a served or logged LoRA adapter (or a full model): load, check, generate.

This module is copied verbatim into every text-generation Bento as
``mlops_generation_runtime.py`` and into every adapter logged as an MLflow model,
so both run where ``mlops`` is not installed: it imports only the standard
library at module top, and mlx-lm (or transformers, peft and torch) when a
model is loaded.

Kinds of model folder:

* ``mlx-lm-adapter``: ``adapter_config.json`` + ``adapters.safetensors`` (mlx-lm's
  LoRA/DoRA output), loaded with ``mlx_lm.load(base, adapter_path=folder)``;
* ``peft-adapter``: ``adapter_config.json`` + ``adapter_model.safetensors``, loaded
  with transformers and ``peft.PeftModel`` on torch;
* ``mlx-model``: a full model folder (``config.json`` + ``*.safetensors``), loaded
  with ``mlx_lm.load(folder)``.

Temperature 0 is greedy decoding (the default), exactly what ``mlx_lm.generate``
does without a sampler.

An mlx-lm adapter is folded into its base's weights for generation (mlx-lm's own
``fuse`` per layer, as ``mlx_lm fuse`` does) when that changes nothing but float32
rounding: ``MLOPS_SERVING_FUSE_ADAPTERS`` = ``auto`` (the default: only float32,
non-quantized base layers), ``always`` (half-precision and quantized bases too, as
``mlx_lm fuse`` would) or ``never`` (the adapter stays a separate path, exactly as
``mlx_lm.generate --adapter-path`` runs it).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

__all__ = [
    "FUSE_CHOICES",
    "GENERATION_KINDS",
    "MAX_PROMPTS",
    "InputError",
    "MLXGenerator",
    "PeftGenerator",
    "check_request",
    "load_generator",
    "prompts_from",
]

GENERATION_KINDS = ("mlx-lm-adapter", "peft-adapter", "mlx-model")
MAX_PROMPTS = 256
MAX_NEW_TOKENS = 4096
FUSE_CHOICES = ("auto", "always", "never")
FUSE_ENV = "MLOPS_SERVING_FUSE_ADAPTERS"


class InputError(ValueError):
    """The request cannot be generated from (answered with HTTP 400)."""


def load_generator(kind: str, path: str, base_model: str | None) -> Any:
    """The generator of a stored model folder.

    Args:
        kind: One of :data:`GENERATION_KINDS`.
        path: The adapter folder (adapters) or the model folder (``mlx-model``).
        base_model: Local path or hub id of the base model (adapters only).
    """
    if kind == "mlx-lm-adapter" and base_model:
        return MLXGenerator(base_model, adapter_path=path, fuse=os.environ.get(FUSE_ENV, "auto"))
    if kind == "peft-adapter" and base_model:
        return PeftGenerator(path, base_model)
    if kind == "mlx-model":
        return MLXGenerator(path)
    raise ValueError(f"unknown generation kind {kind!r} (base model {base_model!r})")


def check_request(
    prompts: list[str] | None, prompt: str | None, max_tokens: Any, temperature: Any
) -> tuple[list[str], int, float]:
    """Validate a request: one of ``prompts``/``prompt``, ``max_tokens`` > 0, ``temperature`` >= 0.

    Returns:
        The prompts as a list, ``max_tokens`` and ``temperature``.
    """
    if (prompts is None) == (prompt is None):
        raise InputError('send exactly one of "prompts" (a list of strings) or "prompt"')
    batch = [prompt] if prompt is not None else list(prompts or [])
    if not batch or len(batch) > MAX_PROMPTS:
        raise InputError(f'"prompts" must hold 1 to {MAX_PROMPTS} strings, got {len(batch)}')
    if not all(isinstance(p, str) and p for p in batch):
        raise InputError("every prompt must be a non-empty string")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        raise InputError(f'"max_tokens" must be an integer, got {max_tokens!r}')
    if not 0 < max_tokens <= MAX_NEW_TOKENS:
        raise InputError(f'"max_tokens" must lie in 1..{MAX_NEW_TOKENS}, got {max_tokens}')
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise InputError(f'"temperature" must be a number, got {temperature!r}')
    if not 0 <= temperature <= 10:  # NaN fails too
        raise InputError(f'"temperature" must lie in [0, 10] (0 is greedy), got {temperature}')
    return batch, max_tokens, float(temperature)


def prompts_from(model_input: Any) -> list[str]:
    """Prompts from what ``mlflow.pyfunc`` hands ``predict``: a list, a Series or a DataFrame.

    A DataFrame gives its ``prompt`` column, else its first column.
    """
    if hasattr(model_input, "columns"):
        column = "prompt" if "prompt" in model_input.columns else model_input.columns[0]
        model_input = model_input[column]
    if isinstance(model_input, str):
        return [model_input]
    if hasattr(model_input, "tolist"):
        model_input = model_input.tolist()
    return [str(p) for p in model_input]


class _Generator:
    """Loads and generates on one thread of its own.

    MLX streams belong to the thread that made them (an array loaded on one
    thread cannot be evaluated on another), and a server calls from a pool of
    threads: so every model call runs on this generator's own thread, which
    also serialises requests on the one model. A request crosses to that thread
    once, whatever its number of prompts.
    """

    def __init__(self) -> None:
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-generate")

    def _on_thread(self, func: Callable[..., Any], *args: Any) -> Any:
        return self._thread.submit(func, *args).result()

    def generate(
        self, prompts: list[str], max_tokens: int = 64, temperature: float = 0.0
    ) -> dict[str, Any]:
        """Complete each prompt; completions, token counts, time and tokens per second."""
        return self._on_thread(self._generate_here, prompts, max_tokens, temperature)  # type: ignore[no-any-return]

    async def agenerate(
        self, prompts: list[str], max_tokens: int = 64, temperature: float = 0.0
    ) -> dict[str, Any]:
        """:meth:`generate` for an event loop: it waits without holding a thread of the server."""
        future = self._thread.submit(self._generate_here, prompts, max_tokens, temperature)
        return await asyncio.wrap_future(future)  # type: ignore[no-any-return]

    def _generate_here(
        self, prompts: list[str], max_tokens: int, temperature: float
    ) -> dict[str, Any]:
        completions: list[str] = []
        prompt_tokens: list[int] = []
        completion_tokens: list[int] = []
        started = time.perf_counter()
        for prompt in prompts:
            text, n_prompt, n_new = self.complete(prompt, max_tokens, temperature)
            completions.append(text)
            prompt_tokens.append(n_prompt)
            completion_tokens.append(n_new)
        seconds = time.perf_counter() - started
        generated = sum(completion_tokens)
        return {
            "completions": completions,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "seconds": seconds,
            "tokens_per_second": generated / seconds if seconds > 0 else 0.0,
        }

    def complete(self, prompt: str, max_tokens: int, temperature: float) -> tuple[str, int, int]:
        """One completion: its text, the prompt's tokens and the generated tokens."""
        raise NotImplementedError


class MLXGenerator(_Generator):
    """A model (and optional adapter) loaded with ``mlx_lm.load``, generating with mlx-lm.

    Args:
        model_path: Local folder or hub id of the (base) model.
        adapter_path: mlx-lm adapter folder, or None for the model alone.
        fuse: ``auto``, ``always`` or ``never``: fold the adapter into the base weights
            (see the module's docstring).

    Attributes:
        fused: How many adapter layers were folded into the base (0: none).
    """

    def __init__(
        self, model_path: str, adapter_path: str | None = None, fuse: str = "auto"
    ) -> None:
        super().__init__()
        if fuse not in FUSE_CHOICES:
            raise ValueError(f"{FUSE_ENV}={fuse!r} is not one of {', '.join(FUSE_CHOICES)}")
        from mlx_lm import load

        loaded: Any = self._on_thread(partial(load, model_path, adapter_path=adapter_path))
        self.model, self.tokenizer = loaded[0], loaded[1]
        self.fused: int = self._on_thread(fuse_adapter, self.model, fuse) if adapter_path else 0

    def complete(self, prompt: str, max_tokens: int, temperature: float) -> tuple[str, int, int]:
        """Generate with ``mlx_lm.stream_generate`` (greedy at temperature 0, like ``generate``)."""
        from mlx_lm import stream_generate
        from mlx_lm.sample_utils import make_sampler

        text, last = "", None
        sampler = make_sampler(temp=temperature)
        for last in stream_generate(
            self.model, self.tokenizer, prompt, max_tokens=max_tokens, sampler=sampler
        ):
            text += last.text
        if last is None:
            return "", 0, 0
        return text, int(last.prompt_tokens), int(last.generation_tokens)


def fuse_adapter(model: Any, mode: str = "auto") -> int:
    """Fold a loaded adapter's layers into the base weights (mlx-lm's ``fuse``); how many.

    ``auto`` folds only when every adapted layer's base is float32 and not quantized:
    the fused model then computes what base + adapter computes, up to float32
    rounding. ``always`` folds every layer (quantized bases are quantized again, as
    ``mlx_lm fuse`` does); ``never`` folds none.
    """
    adapted = [(name, module) for name, module in model.named_modules() if hasattr(module, "fuse")]
    if mode == "never" or not adapted or (mode == "auto" and not all(map(_exact, adapted))):
        return 0
    from mlx.utils import tree_unflatten

    model.update_modules(tree_unflatten([(name, module.fuse()) for name, module in adapted]))
    return len(adapted)


def _exact(named: tuple[str, Any]) -> bool:
    import mlx.core as mx

    base = getattr(named[1], "linear", None) or getattr(named[1], "embedding", None)
    weight = getattr(base, "weight", None)
    return weight is not None and not hasattr(base, "scales") and weight.dtype == mx.float32


class PeftGenerator(_Generator):
    """A PEFT adapter on its transformers base model, generating with torch on the CPU.

    Args:
        adapter_path: The PEFT adapter folder.
        base_model: Local folder or hub id of the base model.
    """

    def __init__(self, adapter_path: str, base_model: str) -> None:
        super().__init__()
        from peft import PeftModel
        from transformers import AutoModelForCausalLM, AutoTokenizer

        base = AutoModelForCausalLM.from_pretrained(base_model)
        self.model = PeftModel.from_pretrained(base, adapter_path).eval()
        has_tokenizer = (Path(adapter_path) / "tokenizer_config.json").is_file()
        self.tokenizer = AutoTokenizer.from_pretrained(
            adapter_path if has_tokenizer else base_model
        )

    def complete(self, prompt: str, max_tokens: int, temperature: float) -> tuple[str, int, int]:
        """Generate with ``model.generate`` (greedy at temperature 0)."""
        import torch

        inputs = self.tokenizer(prompt, return_tensors="pt")
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature}
        pad = self.tokenizer.pad_token_id
        with torch.no_grad():
            out = self.model.generate(  # type: ignore[no-untyped-call]
                **inputs,
                max_new_tokens=max_tokens,
                pad_token_id=pad if pad is not None else self.tokenizer.eos_token_id,
                **sampling,
            )
        n_prompt = int(inputs["input_ids"].shape[1])
        new = out[0, n_prompt:]
        text = str(self.tokenizer.decode(new, skip_special_tokens=True))
        return text, n_prompt, int(new.shape[0])
