"""The ``mlflow.pyfunc`` model of a LoRA adapter: base model + adapter, generating with mlx-lm.

This file is stored in every adapter model as ``code/mlops_adapter_pyfunc.py``
(with ``mlops_generation_runtime.py`` beside it), so
``mlflow.pyfunc.load_model(uri)`` works where ``mlops`` is not installed.

``predict(prompts)`` takes a list of strings (or a DataFrame with a ``prompt``
column, or a Series) and returns one completion per prompt. Params:
``max_tokens`` (default 64) and ``temperature`` (default 0: greedy).
"""

from __future__ import annotations

from typing import Any

from mlflow.pyfunc import PythonModel  # type: ignore[attr-defined]

__all__ = ["MLXAdapterModel"]


class MLXAdapterModel(PythonModel):  # type: ignore[misc]
    """Loads the base model (a path or hub id, or the copied ``base`` artifact) and the adapter."""

    def load_context(self, context: Any) -> None:
        """Load base + adapter with ``mlx_lm.load`` (once per loaded model)."""
        import mlops_generation_runtime as runtime

        config = context.model_config or {}
        base = context.artifacts.get("base") or config["base_model"]
        self.runtime = runtime
        self.generator = runtime.load_generator(
            config.get("kind", "mlx-lm-adapter"), context.artifacts["adapter"], base
        )

    # No type hints: MLflow would take them for a schema (the signature is logged instead).
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """One completion per prompt (greedy unless ``params["temperature"]`` > 0)."""
        params = params or {}
        prompts = self.runtime.prompts_from(model_input)
        batch = self.runtime.check_request(
            prompts,
            None,
            int(params.get("max_tokens", 64)),
            float(params.get("temperature", 0.0)),
        )
        return self.generator.generate(*batch)["completions"]
