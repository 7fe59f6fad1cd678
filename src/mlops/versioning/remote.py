"""Where a project's data goes: the DVC remote derived from ``Settings.data``.

Pure logic (no DVC import; the committed ``.dvc/config`` is read as the INI file it is).
Each project gets its own DVC remote, named
``<data.remote_name>-<project>``, whose URL is the configured remote URL with
the project name appended: projects sharing one bucket or folder cannot
overwrite or pull each other's objects by accident.
"""

from __future__ import annotations

import configparser
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlops.config import Settings
from mlops.errors import redact

__all__ = [
    "CREDENTIAL_KEYS",
    "RemoteSpec",
    "committed_entry",
    "effective_remote",
    "names_remote",
    "remote_spec",
]

# Keys that must never sit in the committed .dvc/config (DVC's S3 schema names).
CREDENTIAL_KEYS = ("access_key_id", "secret_access_key", "session_token", "sse_customer_key")
# data.* settings that name a project's remote; without any, the committed entry rules.
_REMOTE_SETTINGS = ("remote_url", "endpoint_url", "region", "profile")


@dataclass(frozen=True)
class RemoteSpec:
    """The DVC remote of one project.

    Attributes:
        name: DVC remote name (``mlops-<project>`` by default).
        url: Full URL including the per-project prefix.
        endpoint_url: S3-compatible endpoint (MinIO, moto...), or None for AWS.
        region: S3 region, or None.
        profile: AWS profile for credentials, or None.
        timeout: Seconds to wait for the remote to answer.
    """

    name: str
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    timeout: float = 30.0

    @property
    def is_s3(self) -> bool:
        """True for ``s3://`` remotes."""
        return self.url.startswith("s3://")

    @property
    def is_local(self) -> bool:
        """True for a folder on this machine."""
        return "://" not in self.url

    def committed_config(self) -> dict[str, Any]:
        """What goes into the committed ``.dvc/config`` (never credentials).

        An endpoint URL with credentials (``http://key:secret@minio:9000``) is
        committed without them; they go to :meth:`local_config`.
        """
        conf: dict[str, Any] = {"url": self.url}
        if self.is_s3:
            optional = {
                "endpointurl": _without_userinfo(self.endpoint_url),
                "region": self.region,
                "profile": self.profile,
            }
            conf.update({k: v for k, v in optional.items() if v})
        return conf

    def local_config(self) -> dict[str, Any]:
        """What goes into ``.dvc/config.local`` (git-ignored): the endpoint's credentials."""
        key, secret = _userinfo(self.endpoint_url)
        if not self.is_s3 or key is None:
            return {}
        return {"access_key_id": key, "secret_access_key": secret or ""}

    def runtime_config(self) -> dict[str, Any]:
        """Per-process overrides: bounded waits on S3 (DVC has no such keys for folders)."""
        if not self.is_s3:
            return {}
        seconds = max(1, round(self.timeout))
        return {"connect_timeout": seconds, "read_timeout": seconds}

    def describe(self) -> str:
        """``name (url)`` with any secret redacted, for messages."""
        where = f"{self.url} via {self.endpoint_url}" if self.endpoint_url else self.url
        return redact(f"'{self.name}' ({where})")


def _userinfo(url: str | None) -> tuple[str | None, str | None]:
    if not url:
        return None, None
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return None, None
    userinfo = parts.netloc.rpartition("@")[0]
    key, _, secret = userinfo.partition(":")
    return urllib.parse.unquote(key) or None, urllib.parse.unquote(secret) or None


def _without_userinfo(url: str | None) -> str | None:
    if not url or "@" not in urllib.parse.urlsplit(url).netloc:
        return url
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def remote_spec(settings: Settings) -> RemoteSpec:
    """Build the project's :class:`RemoteSpec` from ``settings.data``.

    Example:
        >>> from mlops.config import load_settings
        >>> s = load_settings("demo", repo_root="/tmp/r")
        >>> remote_spec(s).url
        '/tmp/r/.mlops/dvc-remote/demo'
    """
    data = settings.data
    base = settings.dvc_remote_base
    return RemoteSpec(
        name=f"{data.remote_name}-{settings.project}",
        url=f"{base.rstrip('/')}/{settings.project}",
        endpoint_url=data.endpoint_url,
        region=data.region,
        profile=data.profile,
        timeout=data.timeout,
    )


def names_remote(settings: Settings) -> bool:
    """True when the project's settings name its remote (file, environment, argument)."""
    return any(f"data.{key}" in settings.sources for key in _REMOTE_SETTINGS)


def effective_remote(settings: Settings) -> tuple[str, str | None]:
    """URL and endpoint of the remote DVC operations use: the one the settings name, or,
    when they name none, the project's entry in the committed ``.dvc/config`` (in a clone,
    the team's remote, not the clone's own empty default)."""
    spec = remote_spec(settings)
    if not names_remote(settings):
        config = settings.root / ".dvc" / "config"
        entry = committed_entry(config, spec.name)
        url = entry.get("url")
        if url:
            if "://" not in url and not Path(url).is_absolute():
                url = str((config.parent / url).resolve())  # DVC: relative to .dvc/
            return url, entry.get("endpointurl")
    return spec.url, spec.endpoint_url


def committed_entry(config: Path, name: str) -> dict[str, str]:
    """The keys of ``['remote "<name>"']`` in DVC's config file; empty when it has none."""
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(config.read_text())
    except (OSError, configparser.Error):
        return {}
    for section in parser.sections():
        if section.strip("'") == f'remote "{name}"':
            return dict(parser[section])
    return {}
