"""Tracking for mlx-lm's LoRA trainer: a ``TrainingCallback`` that logs every report.

mlx-lm's trainer (``mlx_lm.tuner.train``) hands its callback one dict per
report. :class:`MLOpsCallback` logs each numeric entry as a metric at
``step = iteration``, under mlx-lm's own key:

==========================  =========================================================
metric                      what mlx-lm reports
==========================  =========================================================
``train_loss``              mean training loss since the previous report
``learning_rate``           the optimizer's learning rate
``iterations_per_second``   training iterations per second since the previous report
``tokens_per_second``       training tokens per second since the previous report
``trained_tokens``          tokens trained on so far
``peak_memory``             MLX's peak memory, in GB (``mx.get_peak_memory() / 1e9``)
``val_loss``, ``val_time``  validation loss and the seconds it took (first at step 0)
==========================  =========================================================

Without mlx-lm (the ``mlx`` extra), importing this module raises
:class:`~mlops.errors.ComponentUnavailableError` with the command that installs it.

Example:
    >>> from mlx_lm.tuner import TrainingArgs, train
    >>> from mlops.integrations.mlx_lm import MLOpsCallback
    >>> with client.start_run(run_name="lora"):                       # doctest: +SKIP
    ...     args = TrainingArgs(iters=100)
    ...     callback = MLOpsCallback(client, params=training_params(args, lora_config))
    ...     train(model, optimizer, train_set, valid_set, args, training_callback=callback)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.components import require
from mlops.errors import InvalidInputError

# Without the mlx extra, importing this module says how to install it (not a bare
# ModuleNotFoundError): the callback derives from mlx-lm's own class.
require("mlx", "mlx_lm_callback")

from mlx_lm.tuner.callbacks import TrainingCallback  # noqa: E402

if TYPE_CHECKING:
    from mlops.client import MLOpsClient

__all__ = ["MLOpsCallback", "training_params"]

_STEP_KEY = "iteration"


class MLOpsCallback(TrainingCallback):  # type: ignore[misc]
    """Logs mlx-lm's train and validation reports to a run of the project.

    Args:
        client: The project's client.
        run_id: The run to log to; default the active run (fixed at creation, so
            training in another thread logs to the right run).
        params: Training and LoRA arguments to log as params now (see
            :func:`training_params`; a mapping, dataclass or namespace).
        wrapped_callback: Another callback to hand every report on to.

    Attributes:
        train_reports: How many train reports were logged.
        val_reports: How many validation reports were logged.
        last: The latest value of each metric.
    """

    def __init__(
        self,
        client: MLOpsClient,
        run_id: str | None = None,
        params: Any = None,
        wrapped_callback: Any = None,
    ) -> None:
        self.client = client
        self.run_id = run_id or client.active_run_id
        if self.run_id is None:
            raise InvalidInputError(
                "the mlx-lm callback needs an active run to log to, and none is open",
                component="tracking",
                operation="mlx_lm_callback",
                hint="create it inside `with client.start_run():`, or pass run_id=",
            )
        self.wrapped_callback = wrapped_callback
        self.train_reports = 0
        self.val_reports = 0
        self.last: dict[str, float] = {}
        if params is not None:
            self.log_params(params)

    def log_params(self, params: Any) -> None:
        """Log training and LoRA arguments (flattened: ``lora_parameters.rank``) on the run."""
        flat = training_params(params)
        if flat:
            self.client.log_params(flat, run_id=self.run_id)

    def on_train_loss_report(self, train_info: dict[str, Any]) -> None:
        """Log one train report at its iteration."""
        self._log(train_info)
        self.train_reports += 1
        if self.wrapped_callback is not None:
            self.wrapped_callback.on_train_loss_report(train_info)

    def on_val_loss_report(self, val_info: dict[str, Any]) -> None:
        """Log one validation report at its iteration."""
        self._log(val_info)
        self.val_reports += 1
        if self.wrapped_callback is not None:
            self.wrapped_callback.on_val_loss_report(val_info)

    def _log(self, info: Mapping[str, Any]) -> None:
        values = report_values(info)
        step = int(info.get(_STEP_KEY, 0))
        self.client.log_metrics(values, step=step, run_id=self.run_id)
        self.last.update(values)


def report_values(info: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of an mlx-lm report (MLX scalars included), but the iteration."""
    values: dict[str, float] = {}
    for key, value in info.items():
        if key == _STEP_KEY:
            continue
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, int | float) and not isinstance(number, bool):
            values[key] = float(number)
    return values


def training_params(args: Any, lora_parameters: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Training arguments as flat MLflow params.

    Args:
        args: ``TrainingArgs`` (a dataclass), the ``argparse``/``SimpleNamespace``
            of ``mlx_lm lora``, or a mapping.
        lora_parameters: LoRA settings (``rank``, ``scale``, ``dropout``...) when
            ``args`` does not hold them.

    Returns:
        ``{"iters": "100", "lora_parameters.rank": "8", ...}``; None values are left out.

    Example:
        >>> training_params({"iters": 30, "lora_parameters": {"rank": 8}})
        {'iters': '30', 'lora_parameters.rank': '8'}
    """
    mapping = _as_mapping(args)
    if lora_parameters is not None:
        mapping = {**mapping, "lora_parameters": dict(lora_parameters)}
    flat: dict[str, str] = {}
    _flatten(mapping, "", flat)
    return flat


def _as_mapping(args: Any) -> dict[str, Any]:
    if isinstance(args, Mapping):
        return dict(args)
    if dataclasses.is_dataclass(args) and not isinstance(args, type):
        return {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}
    if hasattr(args, "__dict__"):
        return dict(vars(args))
    raise InvalidInputError(
        f"cannot read training arguments from a {type(args).__name__}",
        component="tracking",
        operation="log_params",
        hint="pass mlx_lm's TrainingArgs, the lora command's namespace, or a dict",
    )


def _flatten(mapping: Mapping[str, Any], prefix: str, out: dict[str, str]) -> None:
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, f"{name}.", out)
        elif value is not None and not callable(value):
            out[name] = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, list | tuple):
        return ",".join(_text(v) for v in value)
    return str(value)
