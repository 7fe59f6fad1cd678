"""A team's Bento registry: ``.bento`` archives in a shared folder or an S3 prefix.

``serving.registry`` names it: a path (an NFS mount, a shared disk) or
``s3://bucket/prefix`` (any S3-compatible endpoint via ``serving.registry_endpoint_url``;
credentials from the usual AWS chain: environment, profile, instance role). Layout::

    <registry>/<bento name>/<version>.bento

A push is atomic (a folder write goes through a hidden temporary name and a rename; an
S3 object appears whole) and idempotent (a version is never overwritten: Bento versions
are immutable). Every wait on S3 is bounded by ``serving.registry_timeout``. This module
moves files; BentoML itself is driven only by the serving adapter.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.config import Settings
from mlops.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    redact,
)

__all__ = ["BentoRegistry", "check_tag", "registry_of"]

_SUFFIX = ".bento"


@dataclass(frozen=True)
class RegistryEntry:
    """One pushed Bento: ``name:version``, where it is, its size."""

    tag: str
    url: str
    size: int
    modified: float


class BentoRegistry:
    """The shared store of ``.bento`` archives named by ``serving.registry``."""

    def __init__(self, url: str, endpoint_url: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.endpoint_url = endpoint_url
        self.timeout = timeout
        self.is_s3 = self.url.startswith("s3://")
        if not self.is_s3 and "://" in self.url:
            raise ConfigurationError(
                f"serving.registry {redact(url)!r} is neither a folder nor s3://bucket/prefix",
                component="serving",
                operation="registry",
                hint="set serving.registry to a shared folder or an s3:// URL",
            )
        self._s3: Any = None

    # -- what callers use --------------------------------------------------------------------

    def location(self, tag: str) -> str:
        """Where Bento ``name:version`` lives in the registry."""
        name, version = _split(tag)
        return f"{self.url}/{name}/{version}{_SUFFIX}"

    def upload(self, archive: Path, tag: str) -> tuple[str, bool]:
        """Put ``archive`` at :meth:`location`; ``(url, False)`` when it was there already."""
        target = self.location(tag)
        if self.exists(tag):
            return target, False
        with self._errors("push_bento", target):
            if self.is_s3:
                bucket, key = _bucket_key(target)
                self._client().upload_file(str(archive), bucket, key)
            else:
                path = Path(target)
                path.parent.mkdir(parents=True, exist_ok=True)
                hidden = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.part")
                try:
                    shutil.copyfile(archive, hidden)
                    os.replace(hidden, path)
                finally:
                    hidden.unlink(missing_ok=True)
        return target, True

    def download(self, tag: str, folder: Path) -> Path:
        """Fetch Bento ``tag`` (``name:version``, ``name:latest`` or ``name``) into ``folder``."""
        entry = self.resolve(tag)
        local = folder / f"{entry.tag.replace(':', '-')}{_SUFFIX}"
        with self._errors("pull_bento", entry.url):
            if self.is_s3:
                bucket, key = _bucket_key(entry.url)
                self._client().download_file(bucket, key, str(local))
            else:
                shutil.copyfile(entry.url, local)
        return local

    def resolve(self, tag: str) -> RegistryEntry:
        """The entry ``tag`` names; ``latest`` (or no version) is the newest push."""
        name, version = _split(tag, allow_latest=True)
        entries = [e for e in self.entries(name) if version in (None, e.tag.split(":", 1)[1])]
        if not entries:
            raise NotFoundError(
                f"the Bento registry {redact(self.url)} holds no Bento {tag!r}",
                component="serving",
                operation="pull_bento",
                hint="push it from the machine that built it (`mlops bento push <tag>` or "
                "deploy_model(..., push=True)), or check the tag (`mlops bento list`)",
            )
        return max(entries, key=lambda e: (e.modified, e.tag))

    def find(self, tag: str) -> RegistryEntry | None:
        """The entry of ``name:version``, or None when the registry does not hold it."""
        name, version = _split(tag)
        return next((e for e in self.entries(name) if e.tag == f"{name}:{version}"), None)

    def exists(self, tag: str) -> bool:
        """True when ``name:version`` is in the registry."""
        return self.find(tag) is not None

    def entries(self, name: str | None = None) -> list[RegistryEntry]:
        """Every Bento in the registry (of ``name`` only, when given), sorted by tag."""
        prefix = f"{self.url}/{name}" if name else self.url
        with self._errors("list_bentos", prefix):
            found = self._list_s3(prefix) if self.is_s3 else self._list_folder(Path(prefix))
        return sorted(found, key=lambda e: e.tag)

    # -- storage -----------------------------------------------------------------------------

    def _list_folder(self, root: Path) -> list[RegistryEntry]:
        if not root.is_dir():
            return []
        found = []
        for path in root.rglob(f"*{_SUFFIX}"):
            if path.name.startswith("."):
                continue
            stat = path.stat()
            tag = f"{path.parent.name}:{path.name[: -len(_SUFFIX)]}"
            found.append(RegistryEntry(tag, str(path), stat.st_size, stat.st_mtime))
        return found

    def _list_s3(self, prefix: str) -> list[RegistryEntry]:
        bucket, key = _bucket_key(prefix)
        pages = self._client().get_paginator("list_objects_v2")
        found = []
        for page in pages.paginate(Bucket=bucket, Prefix=f"{key}/" if key else ""):
            for item in page.get("Contents", []):
                parts = item["Key"].rsplit("/", 2)
                if len(parts) < 2 or not parts[-1].endswith(_SUFFIX):
                    continue
                tag = f"{parts[-2]}:{parts[-1][: -len(_SUFFIX)]}"
                url = f"s3://{bucket}/{item['Key']}"
                found.append(
                    RegistryEntry(tag, url, int(item["Size"]), item["LastModified"].timestamp())
                )
        return found

    def _client(self) -> Any:
        if self._s3 is None:
            from mlops.components import require

            require("s3", "Bento registry on S3")
            import boto3
            from botocore.config import Config

            config = Config(
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                retries={"max_attempts": 2, "mode": "standard"},
            )
            self._s3 = boto3.client("s3", endpoint_url=self.endpoint_url, config=config)
        return self._s3

    @contextmanager
    def _errors(self, operation: str, where: str) -> Iterator[None]:
        """Storage failures as MLOpsClientError naming the registry location."""
        try:
            yield
        except MLOpsClientError:
            raise
        except Exception as exc:
            raise _storage_error(exc, operation, redact(where)) from exc


def _storage_error(exc: Exception, operation: str, where: str) -> MLOpsClientError:
    name, text = type(exc).__name__, str(exc)
    if isinstance(exc, FileNotFoundError) or "NoSuchBucket" in text:
        return NotFoundError(
            f"the Bento registry location {where} does not exist ({name}: {text})",
            component="serving",
            operation=operation,
            hint="create the bucket or folder, or fix serving.registry",
        )
    if isinstance(exc, PermissionError) or any(
        word in text for word in ("AccessDenied", "InvalidAccessKeyId", "Forbidden")
    ):
        return ConnectionFailedError(
            f"the Bento registry {where} refused access ({name})",
            component="serving",
            operation=operation,
            hint="check the AWS credentials (AWS_ACCESS_KEY_ID / AWS_PROFILE) or the "
            "folder's permissions",
        )
    return ConnectionFailedError(
        f"the Bento registry {where} failed: {name}: {redact(text)[:300]}",
        component="serving",
        operation=operation,
        hint="check serving.registry, serving.registry_endpoint_url and the network, "
        "or raise serving.registry_timeout",
    )


def registry_of(settings: Settings) -> BentoRegistry | None:
    """The project's registry, or None when ``serving.registry`` is not set."""
    serving = settings.serving
    if not serving.registry:
        return None
    registry = serving.registry
    if "://" not in registry and not os.path.isabs(registry):
        registry = str(settings.root / registry)
    return BentoRegistry(registry, serving.registry_endpoint_url, serving.registry_timeout)


def check_tag(tag: str) -> None:
    """Reject a tag that is not ``name``, ``name:latest`` or ``name:version``."""
    _split(tag, allow_latest=True)


def _split(tag: str, allow_latest: bool = False) -> tuple[str, str | None]:
    name, _, version = str(tag).partition(":")
    if version in ("", "latest") and allow_latest:
        return name, None
    if not name or "/" in tag or (not allow_latest and (not version or version == "latest")):
        raise InvalidInputError(
            f"Bento tag {tag!r} must be name:version",
            component="serving",
            operation="registry",
            hint="pass the full tag that deploy_model returned (bento_tag)",
        )
    return name, version


def _bucket_key(url: str) -> tuple[str, str]:
    bucket, _, key = url[len("s3://") :].partition("/")
    return bucket, key
