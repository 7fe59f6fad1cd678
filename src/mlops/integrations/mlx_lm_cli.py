"""``mlops lora train -- <mlx_lm lora arguments>``: mlx-lm's own LoRA training inside a run.

The arguments go to mlx-lm's ``lora`` command unchanged; mlops adds its callback
through mlx-lm's reporting hook (``--report-to``, merged with yours) and, around
the training:

1. checks that mlx-lm is installed, the arguments with mlx-lm's own parser, a
   local base model and the data folder, before anything is written (a hub id
   goes to mlx-lm as it is: mlx-lm downloads it, as ``mlx_lm lora`` does);
2. opens a run, versions the data folder with DVC on it (``dvc_add`` + ``dvc_push``);
3. runs ``mlx_lm.lora.main()``; every report becomes metrics, every argument a param;
4. logs the adapter as an MLflow model (:func:`~mlops.integrations.mlx_adapter.log_adapter`)
   and registers it.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
import types
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.components import require
from mlops.errors import InvalidInputError, NotFoundError, translate_errors

if TYPE_CHECKING:
    from mlops.client import MLOpsClient
    from mlops.integrations.mlx_lm import MLOpsCallback

__all__ = ["REPORTER", "parse_lora_args", "run_lora_training"]

#: The name mlops registers in mlx-lm's ``--report-to`` table.
REPORTER = "mlops"
_COMPONENT, _OPERATION = "mlx", "lora_train"
# A Hugging Face repo id: ``name`` or ``owner/name``, neither starting with '.' or '-'.
_HUB_ID = re.compile(r"(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*")


def _invalid(
    message: str, hint: str, cls: type[InvalidInputError] = InvalidInputError
) -> Exception:
    return cls(message, component=_COMPONENT, operation=_OPERATION, hint=hint)


def parse_lora_args(argv: Sequence[str]) -> types.SimpleNamespace:
    """The options ``mlx_lm lora`` will run with: its parser, its config file, its defaults.

    This mirrors ``mlx_lm.lora.main`` (command line over ``--config`` YAML over
    defaults) to check them first; the training itself parses ``argv`` again.

    Raises:
        ComponentUnavailableError: mlx-lm is not installed (the hint installs it).
        InvalidInputError: mlx-lm's parser rejects ``argv``, or ``--train`` is missing.
    """
    require(_COMPONENT, _OPERATION)
    import yaml
    from mlx_lm import lora

    why = io.StringIO()
    try:
        with contextlib.redirect_stderr(why), _argv(["mlx_lm.lora"]):
            parser: Any = lora.build_parser()  # type: ignore[no-untyped-call]
            parsed: dict[str, Any] = dict(vars(parser.parse_args(list(argv))))
    except SystemExit as exc:  # argparse wrote why to stderr
        reason = why.getvalue().strip().splitlines()[-1:] or ["see its usage"]
        raise _invalid(
            f"mlx_lm lora rejected the arguments {' '.join(argv)!r}: {reason[0]}",
            "see `python -m mlx_lm lora --help`; mlops passes the arguments through unchanged",
        ) from exc
    if parsed.get("config"):
        with open(parsed["config"]) as fh:
            for key, value in (yaml.load(fh, lora.yaml_loader) or {}).items():
                if parsed.get(key) is None:
                    parsed[key] = value
    for key, value in lora.CONFIG_DEFAULTS.items():
        if parsed.get(key) is None:
            parsed[key] = value
    if not parsed.get("train"):
        raise _invalid("mlops lora train needs --train", "add --train to the mlx_lm arguments")
    return types.SimpleNamespace(**parsed)


def check_inputs(args: types.SimpleNamespace) -> str:
    """Check the base model and the data folder; the base model's absolute path or hub id.

    A local model folder (with ``config.json``) or a hub id (``owner/name``) passes;
    mlx-lm downloads a hub id that is not in the Hugging Face cache yet. A path
    (``./base``, ``/models/base``, ``~/base``, or any existing path) that is not a
    model folder is rejected.
    """
    base = _base_model(str(args.model))
    _check_layers(base, args)
    data = Path(str(args.data))
    if data.exists() and not (data / "train.jsonl").is_file():
        raise _invalid(
            f"the data folder {data} has no train.jsonl",
            "mlx-lm reads train.jsonl (and valid.jsonl, test.jsonl) from --data",
            NotFoundError,
        )
    return base


def _base_model(ref: str) -> str:
    """``ref`` as a local model folder's absolute path, or as the hub id it is."""
    from mlops.serving.generation import find_model

    found = find_model(ref)
    if found is not None:
        return found
    if not Path(ref).expanduser().exists() and _HUB_ID.fullmatch(ref):
        return ref  # a hub id: mlx-lm downloads it (or says why it cannot)
    raise _invalid(
        f"base model {ref!r} cannot be found: it is not a model folder (with config.json) "
        "nor a Hugging Face id (owner/name)",
        "pass --model <folder with config.json> or a Hugging Face id (owner/name)",
        NotFoundError,
    )


def _check_layers(base: str, args: types.SimpleNamespace) -> None:
    import json

    config = Path(base) / "config.json"
    if not config.is_file():
        return
    layers = json.loads(config.read_text()).get("num_hidden_layers")
    if isinstance(layers, int) and int(args.num_layers) > layers:
        raise _invalid(
            f"--num-layers {args.num_layers} is more than the {layers} layers of {args.model}",
            "pass --num-layers -1 (all layers) or a smaller number",
        )


def run_lora_training(
    client: MLOpsClient,
    argv: Sequence[str],
    *,
    run_name: str | None = None,
    register_as: str | None = "lora_adapter",
    version_data: bool = True,
    log_system_metrics: bool | None = None,
) -> dict[str, Any]:
    """Run ``mlx_lm lora <argv>`` inside a run of the project; what it recorded.

    Args:
        client: The project's client.
        argv: Arguments of ``mlx_lm lora`` (``--model ... --train --data ... --iters 30``).
        run_name: The run's name (default ``mlx-lm-lora``).
        register_as: Registered model name of the adapter; None: log it, do not register.
        version_data: Version a local ``--data`` folder with DVC on the run.
        log_system_metrics: Sample system metrics (MLX memory included); default from config.

    Returns:
        ``run_id``, ``adapter_path``, ``base_model``, ``model_uri``, ``registered_model``,
        ``registered_version``, ``data_version``, ``train_reports``, ``val_reports``, ``last``.

    Raises:
        ComponentUnavailableError: mlx-lm is not installed (the hint installs it).
        InvalidInputError: bad arguments, a missing base model folder or data folder;
            nothing was written.
    """
    require(_COMPONENT, _OPERATION)
    args = parse_lora_args(argv)
    base = check_inputs(args)
    data = Path(str(args.data))
    with client.start_run(
        run_name=run_name or "mlx-lm-lora", log_system_metrics=log_system_metrics
    ) as run:
        run_id = run.info.run_id
        data_version = None
        if version_data and data.is_dir():
            data_version = client.dvc_add(data.resolve())
            client.dvc_push()
        callback = _train(client, run_id, argv, args)
        info = _log_adapter(client, Path(str(args.adapter_path)), register_as)
    return {
        "run_id": run_id,
        "adapter_path": str(Path(str(args.adapter_path)).resolve()),
        "base_model": base,
        "model_uri": info.model_uri,
        "registered_model": register_as,
        "registered_version": _version(info),
        "data_version": data_version,
        "train_reports": callback.train_reports if callback else 0,
        "val_reports": callback.val_reports if callback else 0,
        "last": dict(callback.last) if callback else {},
    }


def _train(
    client: MLOpsClient, run_id: str, argv: Sequence[str], args: types.SimpleNamespace
) -> MLOpsCallback | None:
    from mlx_lm import lora

    made: list[MLOpsCallback] = []
    reporters = [r for r in str(args.report_to or "").split(",") if r.strip()]
    full_argv = [*argv, "--report-to", ",".join([*reporters, REPORTER])]
    with (
        _reporter(client, run_id, made),
        _argv(["mlx_lm.lora", *full_argv]),
        translate_errors(
            _COMPONENT, _OPERATION, hint="read mlx-lm's message; the run is marked FAILED"
        ),
    ):
        lora.main()  # type: ignore[no-untyped-call]
    return made[0] if made else None


@contextmanager
def _reporter(client: MLOpsClient, run_id: str, made: list[Any]) -> Iterator[None]:
    """Register mlops in mlx-lm's ``--report-to`` table while the training runs."""
    from mlx_lm.tuner import callbacks

    from mlops.integrations.mlx_lm import MLOpsCallback

    class _Reporter(MLOpsCallback):
        def __init__(
            self,
            project_name: str | None = None,
            log_dir: str | None = None,
            config: dict[str, Any] | None = None,
            wrapped_callback: Any = None,
        ) -> None:
            super().__init__(client, run_id, params=config, wrapped_callback=wrapped_callback)
            made.append(self)

    saved = callbacks.SUPPORT_CALLBACK.get(REPORTER)
    callbacks.SUPPORT_CALLBACK[REPORTER] = _Reporter
    try:
        yield
    finally:
        if saved is None:
            callbacks.SUPPORT_CALLBACK.pop(REPORTER, None)
        else:
            callbacks.SUPPORT_CALLBACK[REPORTER] = saved


@contextmanager
def _argv(argv: list[str]) -> Iterator[None]:
    saved = sys.argv
    sys.argv = argv
    try:
        yield
    finally:
        sys.argv = saved


def _log_adapter(client: MLOpsClient, folder: Path, register_as: str | None) -> Any:
    from mlops.integrations.mlx_adapter import log_adapter

    return log_adapter(client, folder, name="adapter", registered_model_name=register_as)


def _version(info: Any) -> str | None:
    version = getattr(info, "registered_model_version", None)
    return str(version) if version is not None else None
