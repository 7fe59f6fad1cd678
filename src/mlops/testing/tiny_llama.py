"""A tiny randomly initialised llama, built locally in a second: no download, ever.

The demo, the tests and the benchmarks need a real base model that mlx-lm can
load, fine-tune and generate from. This builds one from scratch:

* a 2-layer ``mlx_lm.models.llama.Model`` with random weights (seeded), saved
  with ``mx.save_safetensors`` next to a Hugging Face style ``config.json``;
* a byte-level BPE tokenizer trained on the spot with ``tokenizers`` and saved
  through ``transformers.PreTrainedTokenizerFast.save_pretrained``.

The folder is an ordinary MLX / Hugging Face model folder: ``mlx_lm.load(path)``,
``python -m mlx_lm lora --model path`` and ``python -m mlx_lm generate --model
path`` all take it.

Example:
    >>> from mlops.testing.tiny_llama import build_tiny_llama, write_jsonl_dataset
    >>> base = build_tiny_llama("outputs/tiny-llama")          # doctest: +SKIP
    >>> data = write_jsonl_dataset("data/lora")                 # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CORPUS",
    "TinyLlamaSpec",
    "build_tiny_llama",
    "sample_prompts",
    "write_jsonl_dataset",
]

SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>")

# Short instruction-like sentences: the tokenizer is trained on them, the LoRA dataset
# is drawn from them, and the monitoring reference is prompts like them.
_SUBJECTS = ("the model", "a small network", "the adapter", "our service", "the tokenizer")
_VERBS = ("learns", "predicts", "generates", "answers", "summarises", "translates")
_OBJECTS = (
    "short sentences",
    "simple questions",
    "the next word",
    "a list of numbers",
    "polite replies",
    "tiny stories",
)
_TAILS = ("quickly.", "on the CPU.", "with care.", "every day.", "in one line.", "for users.")
CORPUS: tuple[str, ...] = tuple(
    f"{s} {v} {o} {t}" for s in _SUBJECTS for v in _VERBS for o in _OBJECTS for t in _TAILS[:2]
)


@dataclass(frozen=True)
class TinyLlamaSpec:
    """Sizes of the tiny model (defaults: about 100 k parameters, 2 layers).

    Attributes:
        hidden_size: Width of the residual stream.
        layers: Transformer blocks.
        heads: Attention heads (``hidden_size`` must divide by it).
        kv_heads: Key/value heads (grouped-query attention).
        intermediate_size: Width of the MLP.
        vocab_size: Target vocabulary of the trained BPE tokenizer.
        seed: Seeds the weights (same seed, same model).
    """

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 128
    vocab_size: int = 384
    seed: int = 0

    def config(self, vocab_size: int, bos: int, eos: int) -> dict[str, Any]:
        """The ``config.json`` of the model (llama, Hugging Face field names)."""
        return {
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "intermediate_size": self.intermediate_size,
            "rms_norm_eps": 1e-5,
            "vocab_size": vocab_size,
            "max_position_embeddings": 512,
            "rope_theta": 10000.0,
            "tie_word_embeddings": True,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "torch_dtype": "float32",
        }


def build_tiny_llama(
    folder: str | Path, spec: TinyLlamaSpec | None = None, corpus: Sequence[str] = CORPUS
) -> Path:
    """Write a tiny random llama (weights, ``config.json``, tokenizer) into ``folder``.

    Args:
        folder: Created if missing; files already there are overwritten.
        spec: Model sizes and seed (default :class:`TinyLlamaSpec`).
        corpus: Text the BPE tokenizer is trained on.

    Returns:
        The folder, absolute.
    """
    spec = spec or TinyLlamaSpec()
    out = Path(folder).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = _train_tokenizer(corpus, spec.vocab_size)
    tokenizer.save_pretrained(str(out))
    vocab = len(tokenizer)
    config = spec.config(vocab, tokenizer.bos_token_id, tokenizer.eos_token_id)
    _save_weights(out, config, spec.seed)
    (out / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return out


def _train_tokenizer(corpus: Sequence[str], vocab_size: int) -> Any:
    """A byte-level BPE tokenizer (GPT-2 style), wrapped for ``transformers``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE(unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(list(corpus), trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=raw,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
    )


def _save_weights(folder: Path, config: dict[str, Any], seed: int) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models import llama

    mx.random.seed(seed)
    args = llama.ModelArgs.from_dict(config)  # type: ignore[no-untyped-call]
    model = llama.Model(args)
    weights = dict(tree_flatten(model.parameters()))
    mx.eval(weights)
    mx.save_safetensors(str(folder / "model.safetensors"), weights, metadata={"format": "mlx"})


def write_jsonl_dataset(folder: str | Path, rows: int = 48, valid: int = 8, seed: int = 0) -> Path:
    """Write ``train.jsonl`` and ``valid.jsonl`` (``{"text": ...}`` lines) for mlx-lm.

    The sentences come from :data:`CORPUS`, drawn with ``seed``.

    Returns:
        The folder, absolute (pass it as ``--data``).
    """
    out = Path(folder).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for name, count in (("train", rows), ("valid", valid)):
        lines = [json.dumps({"text": rng.choice(CORPUS)}) for _ in range(count)]
        (out / f"{name}.jsonl").write_text("\n".join(lines) + "\n")
    return out


def sample_prompts(count: int, seed: int = 0, words: int = 3) -> list[str]:
    """``count`` prompts: the first ``words`` words of sentences drawn from :data:`CORPUS`."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(CORPUS).split()[:words]) for _ in range(count)]
