"""Log a LoRA adapter folder as an MLflow model that generates text with base + adapter.

The adapter's files become the model's ``adapter`` artifact; its base model is
*referenced* (an absolute path or a hub id, as ``adapter_config.json`` names it)
unless ``copy_base=True`` copies it in as the ``base`` artifact. The model is a
pyfunc whose code (:mod:`mlops.integrations.mlx_adapter_pyfunc` and the generation
runtime) travels inside it, so loading it needs MLflow and mlx-lm, not mlops::

    model = mlflow.pyfunc.load_model(info.model_uri)
    model.predict(["the model learns"], params={"max_tokens": 16})

The run gets the tag ``mlops.adapter_digest`` (SHA-256 of the weights), by which
``deploy_model`` on the adapter folder finds the run and its registered version.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.components import require
from mlops.errors import InvalidInputError
from mlops.tags import ADAPTER_DIGEST_TAG

if TYPE_CHECKING:
    from mlops.client import MLOpsClient

__all__ = ["ADAPTER_KIND", "PYFUNC_MODULE", "log_adapter", "pip_requirements"]

ADAPTER_KIND = "mlx-lm-adapter"
PYFUNC_MODULE = "mlops_adapter_pyfunc"
RUNTIME_MODULE = "mlops_generation_runtime"


def log_adapter(
    client: MLOpsClient,
    adapter_path: str | Path,
    name: str = "adapter",
    registered_model_name: str | None = None,
    copy_base: bool = False,
    **kwargs: Any,
) -> Any:
    """Log an mlx-lm adapter folder on the active run as a text-generation pyfunc model.

    Args:
        client: The project's client; a run must be active.
        adapter_path: Folder with ``adapter_config.json`` and ``adapters.safetensors``.
        name: The logged model's name.
        registered_model_name: Also register it under this name.
        copy_base: Copy the base model into the logged model instead of referencing it.
        **kwargs: Passed to ``mlflow.pyfunc.log_model`` (``input_example``...).

    Returns:
        MLflow's ``ModelInfo`` (``model_uri``, ``registered_model_version``...).

    Raises:
        ComponentUnavailableError: mlx-lm is not installed (the hint installs it).
        InvalidInputError: the folder is not an mlx-lm adapter, or no run is active.
        NotFoundError: its base model cannot be found (named in the message).
    """
    from mlops.serving.generation import adapter_digest, detect_folder_kind, resolve_base_model

    require("mlx", "log_adapter")  # the model's requirements name the installed versions

    folder = Path(adapter_path).expanduser().resolve()
    if detect_folder_kind(folder) != ADAPTER_KIND:
        raise InvalidInputError(
            f"{folder} is not an mlx-lm adapter folder",
            component="tracking",
            operation="log_adapter",
            hint="pass the --adapter-path of `mlx_lm lora` (adapter_config.json + "
            "adapters.safetensors)",
        )
    run_id = client.active_run_id
    if run_id is None:
        raise InvalidInputError(
            "log_adapter needs an active run, and none is open",
            component="tracking",
            operation="log_adapter",
            hint="call it inside `with client.start_run():`",
        )
    base = resolve_base_model(folder, ADAPTER_KIND)
    client.set_tags({ADAPTER_DIGEST_TAG: adapter_digest(folder, ADAPTER_KIND)})
    with tempfile.TemporaryDirectory(prefix="mlops-adapter-") as scratch:
        code = _code_files(Path(scratch))
        artifacts = {"adapter": _adapter_files(folder, Path(scratch) / "adapter")}
        if copy_base:  # MLflow names an artifact folder after its source: copied as "base"
            artifacts["base"] = _copy(_local_base(base), Path(scratch) / "base")
        kwargs.setdefault("pip_requirements", pip_requirements())
        kwargs.setdefault("signature", _signature())
        return client.log_model(
            _pyfunc_model(code[0]),
            name,
            registered_model_name=registered_model_name,
            artifacts=artifacts,
            code_paths=[str(p) for p in code],
            model_config={"base_model": base, "kind": ADAPTER_KIND, "run_id": run_id},
            metadata={"mlops_kind": ADAPTER_KIND, "base_model": base, "base_copied": copy_base},
            **kwargs,
        )


def _local_base(base: str) -> str:
    if not Path(base).is_dir():
        raise InvalidInputError(
            f"copy_base=True needs a local base model folder; {base!r} is a hub id",
            component="tracking",
            operation="log_adapter",
            hint="download it to a folder and point adapter_config.json at it, or copy_base=False",
        )
    return base


def _copy(source: str, target: Path) -> str:
    shutil.copytree(source, target)
    return str(target)


def _code_files(scratch: Path) -> list[Path]:
    """The pyfunc module and the generation runtime, under their stand-alone names."""
    here = Path(__file__).resolve().parent
    pyfunc = scratch / f"{PYFUNC_MODULE}.py"
    runtime = scratch / f"{RUNTIME_MODULE}.py"
    shutil.copyfile(here / "mlx_adapter_pyfunc.py", pyfunc)
    shutil.copyfile(here.parent / "serving" / "generation_runtime.py", runtime)
    return [pyfunc, runtime]


def _adapter_files(folder: Path, target: Path) -> str:
    """Only what loading needs: the config and the final weights (not every checkpoint)."""
    target.mkdir(parents=True)
    for file in ("adapter_config.json", "adapters.safetensors"):
        shutil.copyfile(folder / file, target / file)
    return str(target)


def _pyfunc_model(module_file: Path) -> Any:
    """An ``MLXAdapterModel`` from the stand-alone module, so it is pickled by that name.

    MLflow puts the ``code`` folder on ``sys.path`` when it loads the model, where
    ``mlops_adapter_pyfunc`` is found whether or not mlops is installed.
    """
    module = sys.modules.get(PYFUNC_MODULE)
    if module is None:
        spec = importlib.util.spec_from_file_location(PYFUNC_MODULE, module_file)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[PYFUNC_MODULE] = module
        spec.loader.exec_module(module)
    return module.MLXAdapterModel()


def _signature() -> Any:
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    return ModelSignature(
        inputs=Schema([ColSpec("string")]),
        outputs=Schema([ColSpec("string")]),
        params=ParamSchema(
            [ParamSpec("max_tokens", "long", 64), ParamSpec("temperature", "double", 0.0)]
        ),
    )


def pip_requirements() -> list[str]:
    """What loading the model needs: MLflow and mlx-lm, with MLX's CPU build on Linux."""
    from importlib.metadata import version

    mlx = version("mlx")
    return [
        f"mlflow=={version('mlflow')}",
        f"mlx-lm=={version('mlx-lm')}",
        f"mlx=={mlx}; sys_platform == 'darwin'",
        f"mlx[cpu]=={mlx}; sys_platform == 'linux'",
    ]
