"""From a model source to a BentoML model, a service folder and a Bento.

:class:`DeployPlanner` holds the steps :meth:`ServingMixin.deploy_model` runs;
it receives the BentoML adapter and reads MLflow through the tracker, so the
facade stays a few lines and this module imports no tool at its top.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidInputError
from mlops.serving import generation, sources
from mlops.serving.template import ServiceSource, api_description, render_service, write_service
from mlops.versioning.lineage import versions_from_datasets

if TYPE_CHECKING:
    from mlops.config import Settings
    from mlops.serving._bentoml import BentoMLDeployer
    from mlops.tracking._mlflow import MLflowTracker

__all__ = ["DeployPlanner", "read_signature"]


class DeployPlanner:
    """Runs one project's deployments.

    Args:
        settings: The project's settings.
        serving_dir: ``<workspace>/serving``: service folders, downloads, server logs.
        deployer: The BentoML adapter.
        tracker: Returns the MLflow adapter (only called for MLflow URIs).
    """

    def __init__(
        self,
        settings: Settings,
        serving_dir: Path,
        deployer: BentoMLDeployer,
        tracker: Callable[[str], MLflowTracker],
    ) -> None:
        self.settings, self.serving_dir, self.deployer = settings, serving_dir, deployer
        self._tracker = tracker

    def resolve(self, model_path: str, predictor: str | None) -> sources.ModelSource:
        """Validate and resolve ``model_path`` (nothing is written)."""
        if sources.is_mlflow_uri(model_path):
            if predictor:
                raise InvalidInputError(
                    "predictor is for folders; MLflow models are served with mlflow.pyfunc",
                    component="serving",
                    operation="deploy_model",
                    hint="drop predictor=...",
                )
            parts = sources.parse_model_uri(model_path)
            origin = self._tracker("deploy_model").model_origin(model_path, parts)
            return sources.ModelSource(
                kind="mlflow",
                uri=model_path,
                run_id=origin["run_id"],
                registered_model=origin["registered_model"],
                registered_version=origin["registered_version"],
                model_id=origin["model_id"],
                data_versions=versions_from_datasets(origin["datasets"]),
            )
        folder = generation.local_folder(model_path, self.serving_dir.parent)
        kind = None if predictor else generation.detect_folder_kind(folder)
        if kind is not None:  # an adapter, a full model or an MLflow model: no predictor needed
            return generation.folder_source(folder, kind, lambda: self._tracker("deploy_model"))
        spec = sources.check_predictor(folder, predictor)
        return sources.ModelSource(kind="predictor", uri=str(folder), predictor=spec)

    def labels(self, source: sources.ModelSource, metadata: dict[str, Any]) -> dict[str, Any]:
        """Lineage of the deployment: project, run, registered version, data versions."""
        return {
            "project": self.settings.project,
            "source_uri": source.uri,
            "run_id": source.run_id,
            "registered_model": source.registered_model,
            "registered_version": source.registered_version,
            "model_id": source.model_id,
            "data_versions": source.data_versions,
            **generation.extra_labels(metadata),
        }

    @contextmanager
    def fetched(self, source: sources.ModelSource) -> Iterator[Path]:
        """The model's files: its folder, or a download removed on exit."""
        scratch = Path(tempfile.mkdtemp(prefix="download-", dir=self._dir("tmp")))
        try:
            yield self._fetch(source, scratch)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def metadata(self, source: sources.ModelSource, files: Path) -> dict[str, Any]:
        """What the stored model records for its service (checked: nothing is written).

        Raises:
            NotFoundError: a logged adapter's base model cannot be found.
        """
        signature = read_signature(files) if source.kind == "mlflow" else None
        return {
            "kind": source.kind,
            "predictor": source.predictor,
            "signature": signature,
            "columns": _columns(signature),
            "data_versions": source.data_versions,
            **generation.generation_metadata(source, files),
        }

    def import_model(
        self,
        name: str,
        version: str | None,
        files: Path,
        labels: dict[str, str],
        metadata: dict[str, Any],
    ) -> str:
        """Copy ``files`` into the BentoML store; the model's tag.

        ``labels`` are BentoML's strings (:func:`~mlops.serving.sources.labels_as_strings`).
        """
        return self.deployer.import_model(name, version, files, labels, metadata)

    def _fetch(self, source: sources.ModelSource, scratch: Path) -> Path:
        if source.kind != "mlflow" or source.extra.get("local"):
            return Path(source.uri)  # a folder: imported as it is
        uri = f"models:/{source.model_id}" if source.model_id else source.uri
        local = self._tracker("deploy_model").download_model(uri, scratch)
        return Path(local)

    def write_service(
        self, model_tag: str, metadata: dict[str, Any], labels: dict[str, str]
    ) -> ServiceSource:
        """(Re)write the service folder of ``model_tag``."""
        if metadata["kind"] in generation.GENERATION_KINDS:
            return generation.write_generation_service(
                self._dir("services"), model_tag, metadata, labels
            )
        name = model_tag.partition(":")[0]
        extras: dict[str, Path] = {}
        if metadata.get("predictor"):
            extras.update(sources.predictor_extras(metadata["predictor"]))
        code = render_service(
            model_tag,
            kind=metadata["kind"],
            predictor=metadata.get("predictor"),
            service_name=name,
            labels=labels,
        )
        folder = self._dir("services") / model_tag.replace(":", "-")
        service = write_service(folder, model_tag, code, extras)
        requirements = self.deployer.model_file(model_tag, "requirements.txt")
        if requirements is not None:
            shutil.copyfile(requirements, folder / "requirements.txt")
        return service

    def result(
        self, model_tag: str, metadata: dict[str, Any], labels: dict[str, Any]
    ) -> dict[str, Any]:
        """The dict :meth:`deploy_model` returns before the Bento is built."""
        return {
            "model_tag": model_tag,
            "bento_tag": None,
            "bento_path": None,
            "bentoml_home": str(self.deployer.home),
            "api": generation.api_description()
            if metadata["kind"] in generation.GENERATION_KINDS
            else api_description(metadata["columns"], metadata["signature"]),
            "labels": labels,
        }

    def _dir(self, name: str) -> Path:
        path = self.serving_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path


def read_signature(model_dir: Path) -> dict[str, Any] | None:
    """The ``signature`` in an MLflow model folder's ``MLmodel`` (inputs, outputs), or None."""
    import yaml

    mlmodel = model_dir / "MLmodel"
    if not mlmodel.is_file():
        raise InvalidInputError(
            f"{model_dir.name} has no MLmodel file: it is not an MLflow model",
            component="serving",
            operation="deploy_model",
            hint="log it with client.log_model(...), or deploy the folder with predictor=...",
        )
    raw = (yaml.safe_load(mlmodel.read_text()) or {}).get("signature") or {}
    if not raw:
        return None
    return {key: json.loads(raw[key]) for key in ("inputs", "outputs") if raw.get(key)}


def _columns(signature: dict[str, Any] | None) -> list[str] | None:
    inputs = (signature or {}).get("inputs") or []
    if inputs and all("name" in spec and spec.get("type") != "tensor" for spec in inputs):
        return [str(spec["name"]) for spec in inputs]
    return None
