"""Facade methods for BentoML deployment and serving (deploy_model, serve, containerize)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.client._base import ClientBase
from mlops.errors import ConfigurationError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from bentoml._internal.bento import BentoStore

    from mlops.serving.deploy import DeployPlanner
    from mlops.serving.registry import BentoRegistry
    from mlops.serving.server import ModelServer

__all__ = ["ServingMixin"]


class ServingMixin(ClientBase):
    """BentoML deployment and serving (deploy_model, serve, containerize)."""

    @property
    def bento_store(self) -> BentoStore:
        """Escape hatch: BentoML's own store of this project's Bentos (its BentoML home)."""
        return self._deployer("bento_store").bento_store

    def _planner(self) -> DeployPlanner:
        from mlops.serving.deploy import DeployPlanner

        return DeployPlanner(
            self.settings, self.workspace.path("serving"), self._deployer(), self._tracker
        )

    def deploy_model(
        self,
        model_path: str | Path,
        model_name: str,
        model_version: str | None = None,
        build_bento: bool = True,
        predictor: str | None = None,
        *,
        push: bool = False,
    ) -> dict[str, Any]:
        """Import a model into BentoML, generate its service and build a Bento (offline).

        Args:
            model_path: ``runs:/<run_id>/<name>``, ``models:/<name>/<version>``,
                ``models:/<name>@<alias>``, ``models:/m-<id>``, or a local folder: an
                MLflow model (``MLmodel``), an mlx-lm or PEFT adapter, an MLX/Hugging
                Face model (served on ``/generate``), or any folder with ``predictor``.
            model_name: BentoML model and Bento name (lowercase, digits, ``-_.``).
            model_version: BentoML version; default a generated one.
            build_bento: Also build the Bento (else only the model is imported).
            predictor: For other folders: ``"package.module:Class"`` with
                ``__init__(self, path)`` and ``predict(self, data)``.
            push: Also push the Bento to the team's registry (``serving.registry``),
                so that :meth:`serve` on another machine finds it.

        Returns:
            ``model_tag``, ``bento_tag``, ``bento_path`` (None without a build),
            ``api`` (route, input/output schema), ``labels`` (project, run id,
            registered model and version, data versions) and ``bentoml_home``;
            with ``push``, ``registry_url``.

        Example:
            >>> info = client.deploy_model("models:/iris/1", "iris")  # doctest: +SKIP
            >>> with client.serve(info["bento_tag"]) as server:         # doctest: +SKIP
            ...     server.predict([[5.1, 3.5, 1.4, 0.2]])
        """
        from mlops.serving.sources import labels_as_strings, validate_tag_part

        name = validate_tag_part(model_name, "model_name") or ""
        version = validate_tag_part(model_version, "model_version")
        self._check_free_tag(name, version)
        if push:
            self._registry("deploy_model")  # configured? before anything is written
            if not build_bento:
                raise InvalidInputError(
                    "push=True needs the Bento (build_bento=True)",
                    component="serving",
                    operation="deploy_model",
                    hint="drop build_bento=False, or push=True",
                )
        planner = self._planner()
        source = planner.resolve(str(model_path), predictor)
        with planner.fetched(source) as files:
            metadata = planner.metadata(source, files)  # a logged adapter's base is checked
            labels = planner.labels(source, metadata)
            as_strings = labels_as_strings(labels)  # BentoML's form, made once
            model_tag = planner.import_model(name, version, files, as_strings, metadata)
        result = planner.result(model_tag, metadata, labels)
        if build_bento:
            service = planner.write_service(model_tag, metadata, as_strings)
            bento = self._deployer().build(service, name, version, as_strings)
            result.update(bento_tag=bento["tag"], bento_path=bento["path"])
            if push:
                result["registry_url"] = self.push_bento(bento["tag"])["url"]
        return result

    def push_bento(self, tag: str) -> dict[str, Any]:
        """Put Bento ``tag`` (with its models and lineage labels) in the team's registry.

        Idempotent: a version already there is left as it is (``pushed`` False).

        Returns:
            ``tag``, ``url`` (where it is in the registry), ``pushed``, ``bytes``.
        """
        from mlops.serving.registry import check_tag

        check_tag(tag)
        registry = self._registry("push_bento")
        deployer = self._deployer("push_bento")
        item = deployer.find(tag)
        if item["kind"] != "bento":
            raise InvalidInputError(
                f"{tag!r} is a model, not a Bento",
                component="serving",
                operation="push_bento",
                hint="push the bento_tag that deploy_model returned",
            )
        full = item["tag"]
        entry = registry.find(full)
        if entry is not None:  # versions are immutable: nothing to send
            return {"tag": full, "url": entry.url, "pushed": False, "bytes": entry.size}
        with tempfile.TemporaryDirectory(dir=self.workspace.path("serving/tmp")) as tmp:
            archive = Path(tmp) / "bento.bento"
            deployer.export_bento(full, archive)
            size = archive.stat().st_size
            url, pushed = registry.upload(archive, full)
        return {"tag": full, "url": url, "pushed": pushed, "bytes": size}

    def pull_bento(self, tag: str) -> dict[str, Any]:
        """Bring Bento ``tag`` from the team's registry into this machine's store.

        ``tag`` is ``name:version``, or ``name`` / ``name:latest`` for the newest push.

        Returns:
            ``tag``, ``url``, ``pulled`` (False when the store had it), ``bytes``, ``labels``.
        """
        registry = self._registry("pull_bento")
        deployer = self._deployer("pull_bento")
        entry = registry.resolve(tag)
        if deployer.has_bento(entry.tag):
            item = deployer.find(entry.tag)
            return {
                "tag": entry.tag,
                "url": entry.url,
                "pulled": False,
                "bytes": 0,
                "labels": item["labels"],
            }
        with tempfile.TemporaryDirectory(dir=self.workspace.path("serving/tmp")) as tmp:
            archive = registry.download(entry.tag, Path(tmp))
            item = deployer.import_bento(archive)
        return {
            "tag": item["tag"],
            "url": entry.url,
            "pulled": True,
            "bytes": entry.size,
            "labels": item["labels"],
        }

    def list_registry(self) -> list[dict[str, Any]]:
        """Every Bento in the team's registry: ``tag``, ``url``, ``bytes``."""
        return [
            {"tag": e.tag, "url": e.url, "bytes": e.size}
            for e in self._registry("list_bentos").entries()
        ]

    def _registry(self, operation: str) -> BentoRegistry:
        from mlops.serving.registry import registry_of

        registry = registry_of(self.settings)
        if registry is None:
            raise ConfigurationError(
                "no Bento registry is configured (serving.registry)",
                component="serving",
                operation=operation,
                hint="set registry under [serving] in mlops.toml (a shared folder or "
                "s3://bucket/prefix), or MLOPS_SERVING_REGISTRY",
            )
        return registry

    def _check_free_tag(self, name: str, version: str | None) -> None:
        if version is not None and self._deployer().model_exists(f"{name}:{version}"):
            raise InvalidInputError(
                f"BentoML model {name}:{version} exists already in {self.settings.bentoml_home}",
                component="serving",
                operation="deploy_model",
                hint="pass another model_version, or omit it for a generated one",
            )

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
        item = self._find_or_pull(tag)
        argv, cwd = self._serve_target(item)
        log = self.workspace.path("serving/logs") / f"{item['tag'].replace(':', '-')}-{port}.log"
        home = str(self.settings.bentoml_home)
        env = {**os.environ, "BENTOML_HOME": home, "BENTOML_DO_NOT_TRACK": "true"}
        env["MLOPS_SERVING_FUSE_ADAPTERS"] = self.settings.serving.fuse_adapters
        server = ModelServer(
            item["tag"], argv, host=host, port=port, env=env, cwd=cwd, log_path=log
        )
        server.wait_ready(self.settings.serving.ready_timeout)
        return server

    def api_route(self, tag: str) -> str:
        """The route Bento or model ``tag`` answers on.

        Returns:
            ``/generate`` for text generation (adapters, MLX/Hugging Face models),
            else ``/predict``.
        """
        from mlops.serving.generation import route_of

        return route_of(self._deployer("serve").find(tag))

    def _find_or_pull(self, tag: str) -> Mapping[str, Any]:
        """The stored Bento or model ``tag``; from the team's registry when only it has it."""
        deployer = self._deployer("serve")
        try:
            return deployer.find(tag)
        except NotFoundError:
            if not self.settings.serving.registry:
                raise
        return deployer.find(self.pull_bento(tag)["tag"])

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
        return self._deployer("containerize").containerize(tag, image_tag)

    def log_serving_latency(
        self, server: ModelServer, run_id: str | None = None, step: int | None = None
    ) -> dict[str, float]:
        """Log the server's latency summary (``serving/latency_*``) on a run; the summary."""
        stats = server.latency_stats()
        if stats.get("count"):
            metrics = {f"serving/latency_{k}": v for k, v in stats.items()}
            self._submit_metrics(metrics, step, run_id=run_id, operation="log_serving_latency")
        return stats
