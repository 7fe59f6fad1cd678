"""Runs in the write-ahead log: offline runs, their server ids, staged artifacts.

A run started while the tracking server could not be reached has a local id
(32 hex digits, like MLflow's) and ``wal/<id>/offline.json`` saying how to create
it: name, start time, tags, experiment. The agent creates it on the server with
a tag ``mlops.local_run_id`` = the local id (so a retry finds it instead of
creating a second one) and writes ``wal/<id>/server_id``. Files logged in an
offline run are copied under ``wal/<id>/staged/`` until delivered.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from mlops.tags import LOCAL_RUN_TAG

__all__ = [
    "LOCAL_RUN_TAG",
    "new_run_id",
    "offline_info",
    "server_id",
    "set_server_id",
    "stage",
    "write_offline_info",
]


def new_run_id() -> str:
    """A run id made here: 32 hex digits, as MLflow's."""
    return uuid.uuid4().hex


def write_offline_info(wal_dir: Path, run_id: str, info: dict[str, Any]) -> None:
    """Record how to create run ``run_id`` on the server (atomic)."""
    folder = wal_dir / run_id
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "offline.json", json.dumps(info, sort_keys=True))


def offline_info(run_dir: Path) -> dict[str, Any] | None:
    """What :func:`write_offline_info` recorded, or None for a run created online."""
    try:
        data = json.loads((run_dir / "offline.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def server_id(run_dir: Path) -> str | None:
    """The server's id of an offline run, once the agent created it."""
    try:
        text = (run_dir / "server_id").read_text().strip()
    except OSError:
        return None
    return text or None


def set_server_id(run_dir: Path, run_id: str) -> None:
    """Record the server's id of an offline run (atomic)."""
    _write_atomic(run_dir / "server_id", run_id + "\n")


def stage(wal_dir: Path, run_id: str, source: Path) -> str:
    """Copy a file or folder under the run's ``staged/``; its path relative to the run dir."""
    folder = wal_dir / run_id / "staged" / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True)
    target = folder / source.name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return str(target.relative_to(wal_dir / run_id))


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
