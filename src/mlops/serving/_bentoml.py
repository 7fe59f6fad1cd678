"""The BentoML adapter: the only module of ``mlops`` that imports ``bentoml``.

BentoML keeps one global home (``$BENTOML_HOME``, read once into its dependency
container). Each project has its own home, so every operation here runs with
BentoML's container providers patched to this deployer's stores (under one
lock: the container is process-global), which works whenever BentoML was
imported and whatever ``$BENTOML_HOME`` says. Server processes get the home in
their environment.
"""

from __future__ import annotations

import os

# BentoML reports usage to its makers on import and on every save; there is
# no network here and a user's model metadata is nobody else's business.
os.environ.setdefault("BENTOML_DO_NOT_TRACK", "true")

import json
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import bentoml
from bentoml._internal.bento import BentoStore
from bentoml._internal.configuration.containers import BentoMLContainer
from bentoml._internal.models import ModelStore
from bentoml.exceptions import BentoMLException, InvalidArgument
from bentoml.exceptions import NotFound as BentoNotFound

from mlops.config import Settings
from mlops.errors import (
    ConnectionFailedError,
    ErrorMap,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    translate_errors,
)
from mlops.invocation import mlops_command
from mlops.serving.template import ServiceSource
from mlops.workspace import make_dir

__all__ = ["BENTOML_ERRORS", "BentoMLDeployer", "StoredItem", "bento_summary"]

_CONTAINER_LOCK = threading.RLock()
T = TypeVar("T")


def _not_found(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    return NotFoundError(
        f"BentoML: {exc}", hint="list what exists with `bentoml list` / `bentoml models list`"
    )


def _rejected(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    return InvalidInputError(f"BentoML rejected the input: {exc}")


def _failed(exc: BaseException, _: Mapping[str, str]) -> MLOpsClientError:
    return MLOpsClientError(f"BentoML failed: {exc}")


BENTOML_ERRORS = ErrorMap(
    (BentoNotFound, _not_found),
    (InvalidArgument, _rejected),
    (BentoMLException, _failed),
)


class StoredItem(dict[str, Any]):
    """What :meth:`BentoMLDeployer.find` returns.

    Keys: ``kind`` (bento or model), ``tag``, ``path``, ``labels``, and for models ``metadata``.
    """


class BentoMLDeployer:
    """Imports models, builds Bentos and names serve targets in one BentoML home.

    Args:
        settings: The project's settings; the home is ``settings.bentoml_home``
            (``bentos/``, ``models/``... inside).
    """

    def __init__(self, settings: Settings) -> None:
        home = self.home = settings.bentoml_home
        for sub in ("bentos", "models", "envs", "tmp"):
            make_dir(home / sub)
        self._model_store = ModelStore(str(home / "models"))
        self._bento_store = BentoStore(str(home / "bentos"))
        self._tmp_store = BentoStore(str(home / "tmp"))

    @property
    def bento_store(self) -> BentoStore:
        """BentoML's own store of this project's Bentos (the documented escape hatch)."""
        return self._bento_store

    @property
    def version(self) -> str:
        """The installed BentoML version."""
        return str(bentoml.__version__)

    def list_bentos(self) -> list[dict[str, Any]]:
        """Every Bento in the store as :func:`bento_summary`."""
        with translate_errors("serving", "list", BENTOML_ERRORS), self._home():
            return [bento_summary(b) for b in self._bento_store.list()]

    @contextmanager
    def _home(self) -> Iterator[None]:
        values: list[tuple[Any, Any]] = [
            (BentoMLContainer.bentoml_home, str(self.home)),
            (BentoMLContainer.bento_store_dir, str(self.home / "bentos")),
            (BentoMLContainer.model_store_dir, str(self.home / "models")),
            (BentoMLContainer.tmp_bento_store_dir, str(self.home / "tmp")),
            (BentoMLContainer.env_store_dir, str(self.home / "envs")),
            (BentoMLContainer.bento_store, self._bento_store),
            (BentoMLContainer.tmp_bento_store, self._tmp_store),
            (BentoMLContainer.model_store, self._model_store),
        ]
        with _CONTAINER_LOCK, ExitStack() as stack:
            for provider, value in values:
                stack.enter_context(provider.patch(value))
            yield

    def _run(self, operation: str, func: Callable[[], T]) -> T:
        with translate_errors("serving", operation, mapper=BENTOML_ERRORS), self._home():
            return func()

    def model_exists(self, tag: str) -> bool:
        """True when the model store holds ``tag``."""
        return self._exists(self._model_store, tag)

    def _exists(self, store: Any, tag: str) -> bool:
        try:
            with self._home():
                store.get(tag)
        except (BentoNotFound, InvalidArgument, ValueError):
            return False
        return True

    def model_file(self, tag: str, name: str) -> Path | None:
        """``model/<name>`` inside stored model ``tag``, if that file exists."""
        with self._home():
            path = Path(self._model_store.get(tag).path) / "model" / name
        return path if path.is_file() else None

    def import_model(
        self,
        name: str,
        version: str | None,
        files: Path,
        labels: dict[str, str],
        metadata: dict[str, Any],
    ) -> str:
        """Copy ``files`` into a new BentoML model ``name:version`` (as ``model/``); its tag."""

        def create() -> str:
            tag = bentoml.Tag(name, version)
            # BentoML rejects None in metadata; one JSON entry keeps ours intact.
            stored = {"mlops": json.dumps(metadata, sort_keys=True)}
            with bentoml.models.create(tag, labels=labels, metadata=stored) as model:
                shutil.copytree(
                    files, model.path_of("model"), ignore=shutil.ignore_patterns("__pycache__")
                )
            return str(model.tag)

        return self._run("deploy_model", create)

    def build(
        self, source: ServiceSource, name: str, version: str | None, labels: dict[str, str]
    ) -> StoredItem:
        """Build a Bento from a service folder without the network (packages are not locked)."""
        python: dict[str, Any] = {"lock_packages": False}
        requirements = source.folder / "requirements.txt"
        if requirements.is_file():
            # As a list: BentoML refuses a requirements file under a hidden folder (.mlops).
            lines = (line.strip() for line in requirements.read_text().splitlines())
            python["packages"] = [line for line in lines if line and not line.startswith("#")]

        def build() -> StoredItem:
            bento = bentoml.bentos.build(
                source.import_str,
                name=name,
                version=version,
                labels=labels,
                build_ctx=str(source.folder),
                python=python,
                _bento_store=self._bento_store,
            )
            return _bento_item(bento)

        return self._run("build_bento", build)

    def find(self, tag: str) -> StoredItem:
        """The Bento or (failing that) the model called ``tag``.

        Raises:
            NotFoundError: neither store holds it.
        """
        with translate_errors("serving", "serve", mapper=BENTOML_ERRORS), self._home():
            if self._exists(self._bento_store, tag):
                bento = self._bento_store.get(tag)
                return _bento_item(bento)
            if self._exists(self._model_store, tag):
                model = self._model_store.get(tag)
                return StoredItem(
                    kind="model",
                    tag=str(model.tag),
                    path=str(model.path),
                    labels=dict(model.info.labels),
                    metadata=json.loads(str(model.info.metadata.get("mlops", "{}"))),
                )
        raise NotFoundError(
            f"no Bento and no model called {tag!r} in {self.home}",
            component="serving",
            operation="serve",
            hint="deploy it first (client.deploy_model(...) or "
            f"`{mlops_command('deploy', '--help')}`), or check the tag",
        )

    def export_bento(self, tag: str, target: Path) -> StoredItem:
        """Write Bento ``tag`` (with the models it serves) as one ``.bento`` archive file."""

        def export() -> StoredItem:
            bento = self._bento_store.get(tag)
            bentoml.bentos.export_bento(bento.tag, str(target), _bento_store=self._bento_store)
            return _bento_item(bento, target)

        return self._run("push_bento", export)

    def import_bento(self, archive: Path) -> StoredItem:
        """Add the Bento in ``archive`` (and its models) to this store; an existing one stays."""

        def load() -> StoredItem:
            bento = bentoml.bentos.import_bento(str(archive), _bento_store=self._bento_store)
            return _bento_item(bento)

        return self._run("pull_bento", load)

    def has_bento(self, tag: str) -> bool:
        """True when this store holds Bento ``tag``."""
        return self._exists(self._bento_store, tag)

    def containerize(self, tag: str, image_tag: str | None = None) -> str:
        """Build a Docker image of Bento ``tag``; fail at once when no Docker engine answers.

        Raises:
            ConnectionFailedError: no Docker engine runs here (the hint gives the Bento path).
        """
        item = self.find(tag)
        if item["kind"] != "bento":
            raise InvalidInputError(
                f"{tag!r} is a model, not a Bento",
                component="serving",
                operation="containerize",
                hint="deploy_model(..., build_bento=True) builds the Bento; pass its bento_tag",
            )
        problem = docker_problem()
        if problem:
            raise ConnectionFailedError(
                f"cannot containerize {item['tag']}: {problem}",
                component="serving",
                operation="containerize",
                details={"bento_path": item["path"]},
                hint=f"start Docker, or build elsewhere: copy {item['path']} (or `bentoml "
                f"export {item['tag']}`) to a machine with Docker and run "
                f"`bentoml containerize {item['tag']}`",
            )
        image = image_tag or item["tag"]

        def build() -> str:
            bentoml.container.build(
                item["tag"], backend="docker", image_tag=(image,), _bento_store=self._bento_store
            )
            return image

        return self._run("containerize", build)


def docker_problem() -> str | None:
    """Why no Docker engine is usable here, or None when ``docker info`` answers."""
    docker = shutil.which("docker")
    if docker is None:
        return "no Docker engine: the `docker` command is not installed"
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not Path(host[len("unix://") :]).exists():
        return f"no Docker engine is running (no socket at {host[len('unix://') :]})"
    try:
        done = subprocess.run(
            [docker, "info", "--format", "{{json .ServerVersion}}"],
            check=False,
            capture_output=True,
            text=True,
            timeout=15,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Docker engine does not answer: {exc}"
    if done.returncode != 0:
        return f"the Docker engine does not answer: {done.stderr.strip()[:300]}"
    return None


def _bento_item(bento: Any, path: Path | None = None) -> StoredItem:
    """A BentoML ``Bento`` as a :class:`StoredItem` (at ``path`` when exported there)."""
    return StoredItem(
        kind="bento",
        tag=str(bento.tag),
        path=str(path or bento.path),
        labels=dict(bento.info.labels),
    )


def bento_summary(bento: Any) -> dict[str, Any]:
    """Tag, path, creation time and labels of a BentoML ``Bento`` (labels' JSON decoded)."""
    labels: dict[str, Any] = dict(bento.info.labels)
    if isinstance(labels.get("data_versions"), str):
        try:
            labels["data_versions"] = json.loads(labels["data_versions"])
        except ValueError:
            pass
    created = bento.info.creation_time
    return {
        "tag": str(bento.tag),
        "path": str(bento.path),
        "labels": labels,
        "created": created.isoformat(timespec="seconds") if created else None,
    }
