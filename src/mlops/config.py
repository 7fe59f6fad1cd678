"""Settings: one validated object for all projects, built from layers.

Priority, lowest first:

1. defaults (everything embedded under ``<root>/.mlops/``, nothing to start);
2. the central config file: ``$MLOPS_CONFIG``, else the first ``mlops.toml`` or
   ``pyproject.toml`` with a ``[tool.mlops]`` table found walking up from
   ``repo_root`` (or the working directory); its ``[projects.<name>]`` tables
   override per project;
3. ``MLOPS_<SECTION>_<KEY>`` environment variables (``MLOPS_TRACKING_URI``...);
4. keyword arguments (``tracking_uri="..."`` or ``tracking={"uri": "..."}``).

Unknown sections or keys are a :class:`~mlops.errors.ConfigurationError` naming
the key and the file. Only the standard library is imported here: loading
settings costs about a millisecond.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import ConfigurationError, redact
from mlops.invocation import mlops_command

__all__ = [
    "PROJECT_NAME_PATTERN",
    "Settings",
    "find_config_file",
    "load_settings",
    "render_default_config",
    "validate_project_name",
]

PROJECT_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # use fullmatch
_CHOICES = {
    "tracking.offline": ("auto", "always", "never"),
    "serving.fuse_adapters": ("auto", "always", "never"),
}
_BOOL_TRUE = {"1", "true", "yes", "on"}
_BOOL_FALSE = {"0", "false", "no", "off", ""}


def opt(default: Any, doc: str, kind: str = "str", env: tuple[str, ...] = ()) -> Any:
    """Declare a setting: its default, one line of docs, its kind and extra env names.

    Kinds: ``str``, ``path`` (relative to the repo root), ``uri`` (sqlite paths
    relative to the root), ``int``, ``float``, ``bool``; ``?`` suffix allows None.
    """
    meta = {"doc": doc, "kind": kind, "env": env}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class TrackingSettings:
    """MLflow tracking: where runs, metrics and models go."""

    uri: str | None = opt(
        None, "MLflow tracking URI; default sqlite:///<root>/.mlops/mlflow.db", "uri?"
    )
    registry_uri: str | None = opt(None, "model registry URI; default: the tracking URI", "uri?")
    artifact_location: str | None = opt(
        None,
        "artifact root for new experiments on local stores; default <root>/.mlops/artifacts",
        "path?",
    )
    experiment: str | None = opt(None, "experiment name; default: the project name", "str?")
    timeout: float = opt(
        10.0, "seconds to wait for an unreachable tracking server before failing", "float"
    )
    offline: str = opt(
        "auto",
        "auto: runs go offline (logged locally, synced later) when the server cannot be "
        "reached; always: every run starts offline; never: an unreachable server is an error",
        "str",
    )
    connect_after: float = opt(
        0.4,
        "seconds to resolve the server's name and open a connection to it (or to the proxy) "
        "before the run goes offline: a server that cannot be reached",
        "float",
    )
    offline_after: float = opt(
        2.0,
        "seconds a call waits on a server that was reached but does not answer before the "
        "run goes offline (a hung or overloaded server)",
        "float",
    )


@dataclass(frozen=True)
class TelemetrySettings:
    """The write-ahead log and background delivery of metric points."""

    flush_interval: float = opt(
        2.0, "seconds between background deliveries (a full batch goes at once)", "float"
    )
    batch_size: int = opt(
        1000, "points per MLflow log_batch call (MLflow's maximum is 1000)", "int"
    )
    flush_timeout: float = opt(
        30.0, "seconds a run end or interpreter exit waits for delivery", "float"
    )
    max_log_mb: float = opt(
        1024.0, "undelivered data kept on disk per project; past it log_metrics raises", "float"
    )
    max_backoff: float = opt(30.0, "longest pause between delivery retries, seconds", "float")
    breaker_failures: int = opt(3, "consecutive failures that open the circuit breaker", "int")
    agent_idle: float = opt(
        30.0,
        "seconds the delivery process stays up with nothing to deliver once no training "
        "process writes",
        "float",
    )
    agent_linger: float = opt(
        3600.0,
        "seconds the delivery process keeps retrying a tracking server that is away, after "
        "the last training process exited or the last delivery; then `mlops sync` delivers",
        "float",
    )
    request_timeout: float = opt(
        60.0, "seconds one delivery request may take on a busy server before a retry", "float"
    )
    concurrency: int = opt(
        4, "metric batches in flight at once to a tracking server (1 on sqlite)", "int"
    )


@dataclass(frozen=True)
class ServerSettings:
    """``mlops server``: a shared MLflow tracking server for a team."""

    backend_store_uri: str | None = opt(
        None, "e.g. postgresql+psycopg2://user@host/db; default sqlite under .mlops/server", "uri?"
    )
    artifacts_destination: str | None = opt(None, "default <root>/.mlops/server/artifacts", "path?")
    host: str = opt("127.0.0.1", "interface to bind; 0.0.0.0 exposes it to the network", "str")
    port: int = opt(5000, "port to listen on", "int")
    workers: int = opt(1, "server worker processes", "int")
    enable_job_execution: bool = opt(False, "let MLflow start its job runner processes", "bool")
    auth: bool = opt(
        False,
        "MLflow's basic-auth app (users, passwords, permissions); the first start takes the "
        "admin from MLFLOW_AUTH_ADMIN_USERNAME (default admin) / MLFLOW_AUTH_ADMIN_PASSWORD",
        "bool",
    )
    auth_database_uri: str | None = opt(
        None, "where basic-auth keeps its users; default sqlite under .mlops/server", "uri?"
    )
    start_timeout: float = opt(
        60.0, "seconds to wait for the server to answer after start", "float"
    )


@dataclass(frozen=True)
class DataSettings:
    """DVC data versioning."""

    remote_url: str | None = opt(
        None, "DVC remote (path, s3://bucket/prefix); default <root>/.mlops/dvc-remote", "uri?"
    )
    remote_name: str = opt(
        "mlops", "prefix of each project's DVC remote name (<remote_name>-<project>)", "str"
    )
    endpoint_url: str | None = opt(None, "S3-compatible endpoint URL (MinIO, moto...)", "str?")
    region: str | None = opt(None, "S3 region", "str?")
    profile: str | None = opt(None, "AWS profile for the remote's credentials", "str?")
    timeout: float = opt(30.0, "seconds to wait for a remote to answer", "float")
    jobs: int | None = opt(
        None, "parallel transfers; default DVC's own (4 per CPU core for S3)", "int?"
    )
    progress: bool = opt(False, "let DVC draw its progress bars (the CLI does on a tty)", "bool")


@dataclass(frozen=True)
class ServingSettings:
    """BentoML packaging and serving."""

    bentoml_home: str | None = opt(None, "BentoML store; default <root>/.mlops/bentoml", "path?")
    host: str = opt("127.0.0.1", "interface the model server binds", "str")
    port: int | None = opt(None, "port of the model server; default a free one", "int?")
    ready_timeout: float = opt(120.0, "seconds to wait for a server to become ready", "float")
    registry: str | None = opt(
        None, "a team's Bento registry: a shared folder or s3://bucket/prefix", "uri?"
    )
    registry_endpoint_url: str | None = opt(
        None, "S3-compatible endpoint of the registry (MinIO, moto...)", "str?"
    )
    registry_timeout: float = opt(30.0, "seconds to wait for the registry to answer", "float")
    fuse_adapters: str = opt(
        "auto",
        "fold an mlx-lm adapter into its base's weights when serving it: auto (float32, "
        "non-quantized bases: the same output, faster), always (as mlx_lm fuse does), never",
        "str",
    )


@dataclass(frozen=True)
class MonitoringSettings:
    """Evidently drift and performance monitoring."""

    workspace: str | None = opt(
        None,
        "Evidently workspace: a folder, or the URL of a team's Evidently UI service; "
        "default <root>/.mlops/evidently",
        "uri?",
    )
    secret: str | None = opt(None, "secret of the Evidently UI service (its --secret)", "str?")
    timeout: float = opt(30.0, "seconds to wait for the Evidently UI service", "float")
    task: str = opt("auto", "auto, classification or regression", "str")
    drift_share: float = opt(0.5, "share of drifted columns that counts as dataset drift", "float")
    performance_drop: float = opt(0.1, "relative quality drop that suggests retraining", "float")
    latency_ms: float | None = opt(None, "alert when mean latency exceeds this", "float?")
    memory_mb: float | None = opt(None, "alert when memory exceeds this", "float?")
    max_rows: int = opt(200_000, "rows above which inputs are sampled", "int")
    seed: int = opt(42, "seed of the sampling", "int")
    webhook_url: str | None = opt(None, "POST alerts as JSON to this URL", "str?")
    webhook_timeout: float = opt(5.0, "seconds per webhook attempt", "float")
    webhook_retries: int = opt(3, "webhook attempts per alert before it is logged as lost", "int")


@dataclass(frozen=True)
class HardwareSettings:
    """Hardware probes and the background system-metrics sampler."""

    system_metrics: bool = opt(
        False, "sample system metrics during every run", "bool", ("MLOPS_SYSTEM_METRICS",)
    )
    interval: float = opt(
        10.0, "seconds between samples", "float", ("MLOPS_SYSTEM_METRICS_INTERVAL",)
    )
    powermetrics: bool = opt(
        False, "read power and frequencies from powermetrics (needs sudo)", "bool"
    )
    macmon: bool = opt(False, "read power and frequencies from `macmon pipe`", "bool")


@dataclass(frozen=True)
class DashboardSettings:
    """``mlops dashboard``."""

    host: str = opt("127.0.0.1", "interface to bind; anything but loopback requires a token", "str")
    port: int = opt(8765, "port to listen on", "int")
    token: str | None = opt(None, "access token, required off loopback", "str?")


SECTIONS: dict[str, type] = {
    "tracking": TrackingSettings,
    "telemetry": TelemetrySettings,
    "server": ServerSettings,
    "data": DataSettings,
    "serving": ServingSettings,
    "monitoring": MonitoringSettings,
    "hardware": HardwareSettings,
    "dashboard": DashboardSettings,
}


@dataclass(frozen=True)
class Settings:
    """Everything ``mlops`` needs to know, validated and resolved for one project."""

    project: str
    root: Path
    config_file: Path | None
    tracking: TrackingSettings
    telemetry: TelemetrySettings
    server: ServerSettings
    data: DataSettings
    serving: ServingSettings
    monitoring: MonitoringSettings
    hardware: HardwareSettings
    dashboard: DashboardSettings
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def mlops_dir(self) -> Path:
        """The embedded folder, ``<root>/.mlops``."""
        return self.root / ".mlops"

    @property
    def tracking_uri(self) -> str:
        """The effective MLflow tracking URI."""
        return self.tracking.uri or f"sqlite:///{self.mlops_dir / 'mlflow.db'}"

    @property
    def experiment_name(self) -> str:
        """The MLflow experiment of this project."""
        return self.tracking.experiment or self.project

    # Every default location is decided here, and only here.

    @property
    def workspace_dir(self) -> Path:
        """The project's own folder, ``<root>/.mlops/workspaces/<project>``."""
        return self.mlops_dir / "workspaces" / self.project

    @property
    def artifact_root(self) -> str:
        """Artifact root of new experiments on local stores (a path or a URL)."""
        return self.tracking.artifact_location or str(self.mlops_dir / "artifacts")

    @property
    def dvc_remote_base(self) -> str:
        """Base of the DVC remotes (each project adds its name): a path or a URL."""
        return self.data.remote_url or str(self.mlops_dir / "dvc-remote")

    @property
    def dvc_site_cache_dir(self) -> Path:
        """DVC's site cache, kept inside the repository."""
        return self.mlops_dir / "dvc-site-cache"

    @property
    def bentoml_home(self) -> Path:
        """The BentoML store: ``serving.bentoml_home``, else ``<root>/.mlops/bentoml``."""
        configured = self.serving.bentoml_home
        return Path(configured) if configured else self.mlops_dir / "bentoml"

    @property
    def monitoring_service(self) -> str | None:
        """The URL of a team's Evidently UI service when ``monitoring.workspace`` is one."""
        configured = self.monitoring.workspace
        return configured if configured and configured.startswith(("http://", "https://")) else None

    @property
    def monitoring_workspace(self) -> Path:
        """The local Evidently workspace: ``monitoring.workspace``, else ``<root>/.mlops/evidently``
        (with a service, the local folder keeps nothing; see :attr:`monitoring_service`)."""
        configured = self.monitoring.workspace
        if configured and not self.monitoring_service:
            return Path(configured)
        return self.mlops_dir / "evidently"

    @property
    def monitoring_location(self) -> str:
        """Where checks go: the service's URL (redacted) or the workspace folder."""
        return (
            redact(self.monitoring_service)
            if self.monitoring_service
            else str(self.monitoring_workspace)
        )

    @property
    def server_dir(self) -> Path:
        """State of ``mlops server``: PID file, log, default sqlite store and artifacts."""
        return self.mlops_dir / "server"

    def to_json(self) -> str:
        """Every value, secrets included (for a child process's environment, never a file)."""
        data = self.as_dict(redacted=False)
        data["config_file"] = str(self.config_file) if self.config_file else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> Settings:
        """The settings :meth:`to_json` wrote."""
        data = json.loads(text)
        sections = {name: SECTIONS[name](**data[name]) for name in SECTIONS}
        config = data.get("config_file")
        return cls(
            project=data["project"],
            root=Path(data["root"]),
            config_file=Path(config) if config else None,
            **sections,
        )

    def as_dict(self, redacted: bool = True) -> dict[str, Any]:
        """Plain dict of all sections, secrets redacted unless asked otherwise."""
        out: dict[str, Any] = {"project": self.project, "root": str(self.root)}
        for name in SECTIONS:
            values = dataclasses.asdict(getattr(self, name))
            if redacted:
                values = {k: redact(v) if isinstance(v, str) else v for k, v in values.items()}
                if name == "dashboard" and values.get("token"):
                    values["token"] = "***"
                if name == "monitoring" and values.get("secret"):
                    values["secret"] = "***"
            out[name] = values
        return out


def validate_project_name(name: object) -> str:
    """Return ``name`` if it is a valid project name, else raise.

    Letters, digits, ``-``, ``_`` and ``.``; starts with a letter or digit; at
    most 100 characters; no path separators and no ``..``.
    """
    from mlops.errors import InvalidInputError

    if not isinstance(name, str) or not PROJECT_NAME_PATTERN.fullmatch(name) or ".." in name:
        raise InvalidInputError(
            f"invalid project name {name!r}",
            component="workspace",
            operation="validate_project_name",
            hint="use letters, digits, '-', '_' and '.', start with a letter or digit, "
            "at most 100 characters, no '/' and no '..' (e.g. 'lora-finetuning-mlx')",
        )
    return name


def find_config_file(start: Path) -> tuple[Path | None, dict[str, Any]]:
    """Find the central config: ``$MLOPS_CONFIG``, else walk up from ``start``.

    Returns the file and its ``mlops`` table (empty when there is no file).
    """
    named = os.environ.get("MLOPS_CONFIG")
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise ConfigurationError(
                f"MLOPS_CONFIG names {path}, which is not a file",
                component="config",
                operation="load",
                hint="point MLOPS_CONFIG at an mlops.toml, or unset it",
            )
        return path, _read_table(path)
    for folder in (start, *start.parents):
        candidate = folder / "mlops.toml"
        if candidate.is_file():
            return candidate, _read_table(candidate)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _read_table(pyproject)
            if table:
                return pyproject, table
    return None, {}


def _read_table(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(
            f"cannot read {path}: {exc}",
            component="config",
            operation="load",
            hint=f"fix the TOML syntax, or run `{mlops_command('init', '--force')}` "
            "for a fresh file",
        ) from exc
    if path.name == "pyproject.toml":
        table = data.get("tool", {}).get("mlops", {})
        return table if isinstance(table, dict) else {}
    return data


def _find_root(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def load_settings(
    project: str,
    repo_root: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the :class:`Settings` of ``project`` from all layers.

    Example:
        >>> s = load_settings("demo", repo_root="/tmp/repo")  # doctest: +SKIP
        >>> s.tracking_uri                                      # doctest: +SKIP
        'sqlite:////tmp/repo/.mlops/mlflow.db'
    """
    validate_project_name(project)
    start = Path(repo_root).expanduser().resolve() if repo_root else Path.cwd()
    config_file, table = find_config_file(start)
    if repo_root:
        root = start
    elif config_file is not None and config_file.name in ("mlops.toml", "pyproject.toml"):
        root = config_file.parent.resolve()
    else:
        root = _find_root(start)
    layers = _Layers(root)
    source = str(config_file) if config_file else "<none>"
    layers.apply_table(_without_projects(table, source), source)
    project_table = table.get("projects", {}).get(project, {})
    layers.apply_table(project_table, f"{source} [projects.{project}]")
    layers.apply_env(os.environ if environ is None else environ)
    layers.apply_overrides(overrides or {})
    return layers.build(project, config_file)


def _without_projects(table: Mapping[str, Any], source: str) -> dict[str, Any]:
    projects = table.get("projects", {})
    if not isinstance(projects, dict):
        raise ConfigurationError(
            f"[projects] in {source} must be a table of tables",
            component="config",
            operation="load",
        )
    return {k: v for k, v in table.items() if k != "projects"}


class _Layers:
    """Accumulates values section by section, remembering where each came from."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.values: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        self.sources: dict[str, str] = {}

    def set(self, section: str, key: str, raw: Any, source: str) -> None:
        fields = {f.name: f for f in dataclasses.fields(SECTIONS[section])}
        if key not in fields:
            raise ConfigurationError(
                f"unknown key '{key}' in section [{section}] of {source}",
                component="config",
                operation="load",
                details={"known": sorted(fields)},
                hint=f"known keys in [{section}]: {', '.join(sorted(fields))}",
            )
        value = _coerce(raw, fields[key].metadata["kind"], f"{section}.{key}", source)
        choices = _CHOICES.get(f"{section}.{key}")
        if choices and value not in choices:
            raise ConfigurationError(
                f"{section}.{key} = {raw!r} from {source} is not one of {', '.join(choices)}",
                component="config",
                operation="load",
                hint=f"set {section}.{key} to one of: {', '.join(choices)}",
            )
        self.values[section][key] = value
        self.sources[f"{section}.{key}"] = source

    def apply_table(self, table: Mapping[str, Any], source: str) -> None:
        if not isinstance(table, Mapping):
            raise ConfigurationError(
                f"{source} must be a table", component="config", operation="load"
            )
        for section, entries in table.items():
            if section not in SECTIONS:
                raise ConfigurationError(
                    f"unknown section [{section}] in {source}",
                    component="config",
                    operation="load",
                    hint=f"known sections: {', '.join(SECTIONS)}, projects",
                )
            if not isinstance(entries, Mapping):
                raise ConfigurationError(
                    f"[{section}] in {source} must be a table", component="config", operation="load"
                )
            for key, raw in entries.items():
                self.set(section, key, raw, source)

    def apply_env(self, environ: Mapping[str, str]) -> None:
        for section, cls in SECTIONS.items():
            for f in dataclasses.fields(cls):
                for name in (f"MLOPS_{section}_{f.name}".upper(), *f.metadata["env"]):
                    if name in environ:
                        self.set(section, f.name, environ[name], f"environment variable {name}")

    def apply_overrides(self, overrides: Mapping[str, Any]) -> None:
        for name, value in overrides.items():
            if name in SECTIONS and isinstance(value, Mapping):
                for key, raw in value.items():
                    self.set(name, key, raw, "arguments")
                continue
            section = next((s for s in SECTIONS if name.startswith(s + "_")), None)
            if section is None:
                raise ConfigurationError(
                    f"unknown setting '{name}' passed as an argument",
                    component="config",
                    operation="load",
                    hint="use <section>_<key>, e.g. tracking_uri=..., or a dict per section",
                )
            self.set(section, name[len(section) + 1 :], value, "arguments")

    def build(self, project: str, config_file: Path | None) -> Settings:
        sections = {}
        for name, cls in SECTIONS.items():
            resolved = {k: self._resolve(cls, k, v) for k, v in self.values[name].items()}
            sections[name] = cls(**resolved)
        return Settings(
            project=project,
            root=self.root,
            config_file=config_file,
            sources=self.sources,
            **sections,
        )

    def _resolve(self, cls: type, key: str, value: Any) -> Any:
        kind = (
            next(f for f in dataclasses.fields(cls) if f.name == key).metadata["kind"].rstrip("?")
        )
        if value is None or kind not in ("path", "uri"):
            return value
        return _resolve_location(value, self.root, kind)


def _resolve_location(value: str, root: Path, kind: str) -> str:
    if kind == "path" and "://" not in value:
        return str((root / Path(value).expanduser()).resolve())
    if value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
        return "sqlite:///" + str((root / value[len("sqlite:///") :]).resolve())
    if kind == "uri" and "://" not in value and not value.startswith(("s3:", "gs:", "azure:")):
        return str((root / Path(value).expanduser()).resolve())
    return value


def _coerce(raw: Any, kind: str, name: str, source: str) -> Any:
    optional = kind.endswith("?")
    base = kind.rstrip("?")
    if raw is None or (optional and isinstance(raw, str) and raw.strip().lower() in ("", "none")):
        if optional:
            return None
        raise _bad_value(name, raw, base, source)
    try:
        if base == "bool":
            return _to_bool(raw)
        if base == "int" and not isinstance(raw, bool):
            return int(raw)
        if base == "float" and not isinstance(raw, bool):
            number = float(raw)
            if math.isfinite(number) and number >= 0:  # seconds, sizes, shares: none below 0
                return number
            raise _bad_value(name, raw, "number of 0 or more", source)
        if base in ("str", "path", "uri") and isinstance(raw, str | Path):
            return str(raw)
    except (TypeError, ValueError):
        pass
    raise _bad_value(name, raw, base, source)


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _BOOL_TRUE:
        return True
    if text in _BOOL_FALSE:
        return False
    raise ValueError(text)


def _bad_value(name: str, raw: Any, kind: str, source: str) -> ConfigurationError:
    return ConfigurationError(
        f"{name} = {raw!r} from {source} is not a valid {kind}",
        component="config",
        operation="load",
        hint=f"give {name} a {kind} value",
    )


def render_default_config() -> str:
    """The commented ``mlops.toml`` that ``mlops init`` writes."""
    lines = [
        "# mlops.toml: central configuration for every project in this repository.",
        "# Priority: defaults < this file < [projects.<name>] below < MLOPS_<SECTION>_<KEY>",
        "# environment variables < arguments to MLOpsClient.from_project().",
        "# Relative paths are relative to this file's folder. Uncomment what you change.",
        "",
    ]
    for name, cls in SECTIONS.items():
        lines.append(f"[{name}]")
        lines.append(f"# {(cls.__doc__ or '').strip()}")
        for f in dataclasses.fields(cls):
            env = f"MLOPS_{name}_{f.name}".upper()
            lines.append(f"# {f.metadata['doc']} (env {env})")
            lines.append(f"# {f.name} = {_toml_literal(f.default)}")
        lines.append("")
    lines += [
        "# Per-project overrides, e.g.:",
        '# [projects."lora-finetuning-mlx".hardware]',
        "# system_metrics = true",
        "",
    ]
    return "\n".join(lines)


def _toml_literal(value: Any) -> str:
    if value is None:
        return '""  # unset'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)
