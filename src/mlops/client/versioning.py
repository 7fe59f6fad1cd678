"""Facade methods for DVC data versioning, linked to the runs that used the data.

``dvc_add`` and ``dvc_pull`` inside an active run record the data version on
that run (see :mod:`mlops.versioning.lineage` for the format).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.client._base import ClientBase
from mlops.versioning.lineage import compare_versions, dataset_records, versions_from_datasets

if TYPE_CHECKING:
    from dvc.repo import Repo

__all__ = ["VersioningMixin"]

Targets = Sequence[str | Path] | str | Path | None


class VersioningMixin(ClientBase):
    """DVC data versioning (dvc_add, dvc_push, dvc_pull, dvc_status, get_data_versions)."""

    @contextmanager
    def dvc_repo(self) -> Iterator[Repo]:
        """Escape hatch: DVC's own ``Repo`` of this project, configured as mlops uses it.

        Opened fresh and closed when the block ends (DVC keeps locks and sqlite
        handles open while a ``Repo`` lives).

        Example:
            >>> with client.dvc_repo() as repo:     # doctest: +SKIP
            ...     repo.status()
        """
        with self._versioner("dvc_repo").open_repo("dvc_repo") as repo:
            yield repo

    def dvc_add(
        self, path: str | Path, recursive: bool = False, context: str = "training"
    ) -> dict[str, Any]:
        """Track a file or folder with DVC and return its data version.

        Initialises DVC and the project's remote on first use. Inside an active
        run the version is recorded on the run as a dataset input.

        Args:
            path: File or folder inside the repository.
            recursive: Track every file under the folder separately (the
                result lists them under ``files``).
            context: Dataset context recorded on the run.

        Returns:
            ``{"path", "md5", "size", "nfiles", "dvc_file", "remote", "rev", ...}``;
            ``md5`` ends in ``.dir`` for a folder.

        Example:
            >>> client.dvc_add("data/train.csv")["md5"]   # doctest: +SKIP
            'a3f1c0...'
        """
        version = self._versioner("dvc_add").add(path, recursive=recursive)
        self._record_data_versions(version.get("files") or [version], context, "dvc_add")
        return version

    def dvc_push(self, targets: Targets = None, remote: str | None = None) -> dict[str, Any]:
        """Upload tracked data to the project's remote (or the DVC remote named ``remote``).

        Returns:
            ``{"remote", "url", "pushed": objects, "bytes"}``. Re-running after an
            interruption uploads only what is missing.
        """
        return self._versioner("dvc_push").push(_as_list(targets), remote)

    def dvc_pull(
        self,
        targets: Targets = None,
        remote: str | None = None,
        force: bool = False,
        context: str = "training",
    ) -> dict[str, Any]:
        """Download tracked data and check it out; inside a run, record the versions pulled.

        Returns:
            ``{"remote", "url", "fetched", "bytes", "added", "modified", "deleted", "versions"}``.
        """
        result = self._versioner("dvc_pull").pull(_as_list(targets), remote, force)
        self._record_data_versions(result["versions"], context, "dvc_pull")
        return result

    def dvc_status(
        self, targets: Targets = None, cloud: bool = True, remote: str | None = None
    ) -> dict[str, Any]:
        """What changed in the workspace and (``cloud``) what the remote lacks.

        Returns:
            ``{"modified": [...], "new", "missing", "deleted", "clean", ...}``.
        """
        return self._versioner("dvc_status").status(_as_list(targets), cloud, remote)

    def get_data_versions(self, run_id: str) -> list[dict[str, Any]]:
        """The DVC data versions recorded on ``run_id`` (``path``, ``md5``, ``context``...)."""
        run = self._tracker("get_data_versions").run(self._server_run_id(run_id))
        return versions_from_datasets(run["datasets"])

    def compare_data_versions(self, run_id: str) -> list[dict[str, Any]]:
        """For each data version ``run_id`` used: has the data changed since?

        Each row: ``path``, ``run_md5``, ``current_md5`` (what the ``.dvc`` file
        records now), ``workspace_modified`` and ``changed``.
        """
        used = self.get_data_versions(run_id)
        versioner = self._versioner("dvc_status")
        current = {v["path"]: versioner.tracked_version(v["path"]) for v in used}
        return compare_versions(used, current)

    def _record_data_versions(
        self, versions: Sequence[dict[str, Any]], context: str, operation: str
    ) -> None:
        run_id = self.active_run_id
        if run_id is None or not versions:
            return
        records = dataset_records(versions, context)
        self._log_to_run(
            run_id,
            "datasets",
            {"datasets": records},
            lambda: self._tracker(operation).log_datasets(self._server_run_id(run_id), records),
        )


def _as_list(targets: Targets) -> list[str | Path] | None:
    if targets is None:
        return None
    if isinstance(targets, str | Path):
        return [targets]
    return list(targets)
