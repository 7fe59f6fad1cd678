"""Folding an mlx-lm adapter into its base for generation (serving.fuse_adapters).

Real mlx-lm: the tiny llama, an adapter trained by mlx-lm's own command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops.config import load_settings
from mlops.errors import ConfigurationError
from mlops.serving.generation_runtime import MLXGenerator, fuse_adapter
from tests.mlx.conftest import PROMPTS, mlx_greedy


def _adapted(model: object) -> list[object]:
    return [m for _, m in model.named_modules() if hasattr(m, "fuse")]  # type: ignore[attr-defined]


def test_auto_folds_a_float32_base_and_generates_what_mlx_lm_generates(
    tiny_base: Path, cli_adapter: Path
) -> None:
    expected = mlx_greedy(tiny_base, cli_adapter, PROMPTS, 12)
    folded = MLXGenerator(str(tiny_base), adapter_path=str(cli_adapter), fuse="auto")
    kept = MLXGenerator(str(tiny_base), adapter_path=str(cli_adapter), fuse="never")
    assert folded.fused == 14  # q, k, v, o, gate, up, down in each of the 2 layers
    assert _adapted(folded.model) == []
    assert kept.fused == 0 and len(_adapted(kept.model)) == 14
    assert folded.generate(PROMPTS, 12)["completions"] == expected
    assert kept.generate(PROMPTS, 12)["completions"] == expected


def test_auto_keeps_a_half_precision_base_unfolded(tiny_base: Path, cli_adapter: Path) -> None:
    import mlx.core as mx
    import mlx_lm

    model, _ = mlx_lm.load(str(tiny_base), adapter_path=str(cli_adapter))
    for layer in _adapted(model):
        layer.linear.set_dtype(mx.float16)  # type: ignore[attr-defined]
    assert fuse_adapter(model, "auto") == 0 and len(_adapted(model)) == 14
    assert fuse_adapter(model, "always") == 14 and _adapted(model) == []
    assert fuse_adapter(model, "always") == 0  # nothing left to fold


def test_a_model_without_adapter_and_bad_choices(tiny_base: Path, tmp_path: Path) -> None:
    assert MLXGenerator(str(tiny_base)).fused == 0
    with pytest.raises(ValueError, match="MLOPS_SERVING_FUSE_ADAPTERS='sometimes'"):
        MLXGenerator(str(tiny_base), fuse="sometimes")
    (tmp_path / "mlops.toml").write_text('[serving]\nfuse_adapters = "sometimes"\n')
    with pytest.raises(ConfigurationError, match=r"serving.fuse_adapters = 'sometimes'"):
        load_settings("p", repo_root=tmp_path)
