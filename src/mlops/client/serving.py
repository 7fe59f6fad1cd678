"""Facade methods for BentoML deployment and serving (deploy_model, serve, containerize)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.client.base import ClientBase
from mlops.errors import InvalidInputError

if TYPE_CHECKING:
    from mlops.serving.bentoml_deployer import BentoMLDeployer
    from mlops.serving.deploy import DeployPlanner
    from mlops.serving.server import ModelServer

__all__ = ["ServingMixin"]


class ServingMixin(ClientBase):
    """BentoML deployment and serving (deploy_model, serve, containerize)."""

    @property
    def bentoml_home(self) -> Path:
        """The project's BentoML home (``serving.bentoml_home``, else ``<root>/.mlops/bentoml``)."""
        configured = self.settings.serving.bentoml_home
        return Path(configured) if configured else self.settings.mlops_dir / "bentoml"

    @property
    def deployer(self) -> BentoMLDeployer:
        """The BentoML adapter of this project (imports BentoML on first use)."""

        def build() -> BentoMLDeployer:
            from mlops.serving.bentoml_deployer import BentoMLDeployer

            return BentoMLDeployer(self.bentoml_home)

        return self._adapter("bentoml", "serving", "deploy_model", build)

    @property
    def _facade(self) -> Any:
        """This object as the whole client: tracking lives in a sibling mixin."""
        return self

    def _planner(self) -> DeployPlanner:
        from mlops.serving.deploy import DeployPlanner

        return DeployPlanner(
            self.settings,
            self.workspace.path("serving"),
            self.deployer,
            lambda: self._facade.tracker,
            self._run_data_versions,
        )

    def deploy_model(
        self,
        model_path: str | Path,
        model_name: str,
        model_version: str | None = None,
        build_bento: bool = True,
        predictor: str | None = None,
    ) -> dict[str, Any]:
        """Import a model into BentoML, generate its service and build a Bento (offline).

        Args:
            model_path: ``runs:/<run_id>/<name>``, ``models:/<name>/<version>``,
                ``models:/<name>@<alias>``, ``models:/m-<id>``, or a local folder.
            model_name: BentoML model and Bento name (lowercase, digits, ``-_.``).
            model_version: BentoML version; default a generated one.
            build_bento: Also build the Bento (else only the model is imported).
            predictor: For folders: ``"package.module:Class"`` with
                ``__init__(self, path)`` and ``predict(self, data)``.

        Returns:
            ``model_tag``, ``bento_tag``, ``bento_path`` (None without a build),
            ``api`` (route, input/output schema), ``labels`` (project, run id,
            registered model and version, data versions) and ``bentoml_home``.

        Example:
            >>> info = client.deploy_model("models:/iris/1", "iris")  # doctest: +SKIP
            >>> with client.serve(info["bento_tag"]) as server:         # doctest: +SKIP
            ...     server.predict([[5.1, 3.5, 1.4, 0.2]])
        """
        from mlops.serving.sources import validate_tag_part

        name = validate_tag_part(model_name, "model_name") or ""
        version = validate_tag_part(model_version, "model_version")
        self._check_free_tag(name, version)
        planner = self._planner()
        source = planner.resolve(str(model_path), predictor)
        labels = planner.labels(source)
        model_tag, metadata = planner.import_model(source, name, version, labels)
        result = planner.result(model_tag, metadata, labels)
        if build_bento:
            from mlops.serving.bentoml_deployer import labels_as_strings

            service = planner.write_service(model_tag, metadata, labels_as_strings(labels))
            bento = self.deployer.build(service, name, version, labels_as_strings(labels))
            result.update(bento_tag=bento["tag"], bento_path=bento["path"])
        return result

    def _check_free_tag(self, name: str, version: str | None) -> None:
        if version is not None and self.deployer.model_exists(f"{name}:{version}"):
            raise InvalidInputError(
                f"BentoML model {name}:{version} exists already in {self.bentoml_home}",
                component="serving",
                operation="deploy_model",
                hint="pass another model_version, or omit it for a generated one",
            )

    def _run_data_versions(self, run_id: str) -> list[dict[str, Any]]:
        # The versioning component reads the run's DVC dataset inputs (shared format).
        return list(self._facade.get_data_versions(run_id))

    def serve(self, tag: str, port: int | None = None, host: str | None = None) -> ModelServer:
        """Start a BentoML server for a Bento or model tag; return once it answers.

        The server is a child process (``bentoml serve``) on ``host:port``
        (default ``serving.host`` and a free port), ready within
        ``serving.ready_timeout`` seconds or stopped and reported.

        Returns:
            A :class:`~mlops.serving.server.ModelServer`: ``url``,
            ``predict(data)``, ``latency_stats()``, ``stop()``; a context manager.
        """
        from mlops.serving.server import ModelServer, free_port, port_in_use

        host = host or self.settings.serving.host
        port = port or self.settings.serving.port or free_port(host)
        if port_in_use(host, port):
            raise InvalidInputError(
                f"port {port} on {host} is already in use",
                component="serving",
                operation="serve",
                hint="pass another port, or port=None for a free one",
            )
        item = self.deployer.find(tag)
        argv, cwd = self._serve_target(item)
        log = self.workspace.path("serving/logs") / f"{item['tag'].replace(':', '-')}-{port}.log"
        env = {**os.environ, "BENTOML_HOME": str(self.bentoml_home), "BENTOML_DO_NOT_TRACK": "true"}
        server = ModelServer(
            item["tag"], argv, host=host, port=port, env=env, cwd=cwd, log_path=log
        )
        server.wait_ready(self.settings.serving.ready_timeout)
        return server

    def _serve_target(self, item: Mapping[str, Any]) -> tuple[list[str], Path]:
        if item["kind"] == "bento":
            return [item["tag"]], self.workspace.path("serving")
        service = self._planner().write_service(item["tag"], item["metadata"], item["labels"])
        return [service.import_str, "--working-dir", str(service.folder)], service.folder

    def containerize(self, tag: str, image_tag: str | None = None) -> str:
        """Build a Docker image of Bento ``tag``; its image tag.

        Raises:
            ConnectionFailedError: at once when no Docker engine runs; the hint
                gives the Bento's path to build elsewhere.
        """
        return self.deployer.containerize(tag, image_tag)

    def log_serving_latency(
        self, server: ModelServer, run_id: str | None = None, step: int | None = None
    ) -> dict[str, float]:
        """Log the server's latency summary (``serving/latency_*``) on a run; the summary."""
        stats = server.latency_stats()
        if stats.get("count"):
            metrics = {f"serving/latency_{k}": v for k, v in stats.items()}
            self._facade._submit_metrics(
                metrics, step, run_id=run_id, operation="log_serving_latency"
            )
        return stats
