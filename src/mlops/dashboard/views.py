"""Each dashboard page: read through :class:`~mlops.dashboard.data.ProjectData`, render HTML.

A section whose source fails (a tool missing, a store unreadable) becomes a
notice on the page; the other sections still show.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from mlops.dashboard import charts
from mlops.dashboard.data import SYSTEM_PREFIX, DashboardData, ProjectData
from mlops.dashboard.lineage_svg import lineage_svg
from mlops.dashboard.pages import (
    e,
    errors_html,
    fmt_num,
    fmt_time,
    json_block,
    kv_table,
    layout,
    link,
    project_url,
    table,
    yes_no,
)
from mlops.invocation import mlops_command
from mlops.monitoring.results import BOOLEAN_METRICS

__all__ = [
    "data_page",
    "index_page",
    "lineage_page",
    "models_page",
    "monitoring_page",
    "overview_page",
    "run_page",
    "runs_page",
]

T = TypeVar("T")
Row = dict[str, Any]
logger = logging.getLogger("mlops.dashboard")
MAX_CHART_RUNS, MAX_CHARTS = 20, 24
_HARDWARE = ("cpu_utilization_percentage", "system_memory_usage_megabytes")
_GPU_USE = re.compile(r"^system/gpu_\d+_(utilization_percentage|memory_usage_megabytes)$")
_REFERENCE_KEYS = ("digest", "rows", "task", "target", "prediction", "created_at")


class Notices(list[str]):
    """What a page could not read; shown at its top."""

    def read(self, what: str, read: Callable[[], T]) -> T | None:
        """``read()``, or None (and a notice) when it fails."""
        try:
            return read()
        except Exception as exc:  # one unreadable source must not take the page down
            logger.warning("dashboard could not read %s: %s", what, exc)
            self.append(f"could not read {what}: {exc}")
            return None

    def html(self) -> str:
        """The notices as HTML."""
        return errors_html(self)


def _charts(fragments: Sequence[str], empty: str) -> str:
    if not fragments:
        return f'<p class="muted">{e(empty)}</p>'
    return f'<div class="charts">{"".join(fragments)}</div>'


def _run_link(project: str, run_id: str | None, text: str) -> str:
    return link(project_url(project, f"/runs/{run_id}"), text) if run_id else ""


def _training_runs(project: ProjectData, notices: Notices) -> list[Row]:
    runs = notices.read("runs", project.runs) or []
    return [r for r in runs if r["run_type"] != "monitoring"]


def _training(metrics: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in sorted(metrics.items()) if not k.startswith(SYSTEM_PREFIX)}


# all projects ------------------------------------------------------------------
def index_page(data: DashboardData) -> str:
    """All projects, one row each with the counts of what they recorded."""
    notices = Notices()
    names = notices.read("the project list", data.projects) or []
    rows = [_project_row(data.project_data(name), notices) for name in names]
    headers = ["project", "runs", "latest run (UTC)", "data versions used"]
    body = notices.html() + table(headers, rows, "no project found")
    return layout("Projects", body, projects=names)


def _project_row(project: ProjectData, notices: Notices) -> list[str]:
    runs = _training_runs(project, notices)
    return [
        link(project_url(project.name), project.name),
        e(len(runs)),
        e(fmt_time(runs[0]["start_time"]) if runs else ""),
        e(sum(len(r["data_versions"]) for r in runs)),
    ]


# one project -------------------------------------------------------------------
def overview_page(project: ProjectData) -> str:
    """One project at a glance: counts and the newest runs."""
    notices = Notices()
    runs = _training_runs(project, notices)
    versions = notices.read("model versions", project.model_versions) or []
    bentos = notices.read("bentos", project.bentos) or []
    checks = (notices.read("monitoring", project.monitoring) or {}).get("checks", [])
    data = {(d["path"], d["md5"]) for r in runs for d in r["data_versions"]}
    cards = [
        ("runs", e(len(runs)), "/runs"),
        ("data versions", e(len(data)), "/data"),
        ("model versions", e(len(versions)), "/models"),
        ("bentos", e(len(bentos)), "/models"),
        ("monitoring checks", e(len(checks)), "/monitoring"),
        (
            "latest drift share",
            fmt_num(checks[-1].get("drift_share")) if checks else "-",
            "/monitoring",
        ),
    ]
    body = notices.html() + '<div class="cards">'
    body += "".join(
        f'<div class="card"><b>{value}</b>{link(project_url(project.name, page), label)}</div>'
        for label, value, page in cards
    )
    body += "</div><h2>Latest runs</h2>" + _runs_table(project.name, runs[:5])
    return layout(f"Project {project.name}", body, project.name, "")


def _runs_table(name: str, runs: list[Row], pending: Sequence[str] = ()) -> str:
    rows = [
        [
            _run_link(name, r["run_id"], r["name"]),
            f"<code>{e(r['run_id'][:12])}</code>",
            e(r["status"] + (" · syncing" if r["run_id"] in pending else "")),
            e(fmt_time(r["start_time"])),
            e(", ".join(f"{k}={v}" for k, v in sorted(r["params"].items())[:4])),
            e(", ".join(f"{k}={v:.4g}" for k, v in _training(r["metrics"]).items())),
            e(", ".join(d["path"] for d in r["data_versions"])),
        ]
        for r in runs
    ]
    headers = ["run", "id", "status", "started (UTC)", "params", "final metrics", "data"]
    return table(headers, rows, "no runs yet")


def runs_page(project: ProjectData) -> str:
    """Every run in a table; training metrics and the main hardware metrics across runs."""
    notices = Notices()
    runs = _training_runs(project, notices)
    charted = runs[:MAX_CHART_RUNS]
    keys = sorted({k for r in charted for k in _training(r["metrics"])})[:MAX_CHARTS]
    hardware = _hardware_keys(charted)
    traces = _traces_by_key(project, charted, keys + hardware, notices)
    training = [charts.line_chart(key, traces[key], legend=True) for key in keys]
    system = [
        charts.line_chart(key[len(SYSTEM_PREFIX) :], traces[key], x="time", legend=True)
        for key in hardware
    ]
    unsynced = notices.read("the write-ahead log", project.unsynced) or {}
    body = notices.html() + _offline_table(project, unsynced.get("offline") or [])
    body += _runs_table(project.name, runs, unsynced.get("pending") or ())
    body += f"<h2>Training metrics (newest {len(charted)} runs)</h2>"
    body += _charts(training, "no metrics logged yet")
    body += "<h2>Hardware (system) metrics</h2>"
    body += _charts(system, "none: start runs with log_system_metrics=True")
    body += '<p class="muted">Open a run for all of its hardware metrics.</p>'
    return layout(f"Runs of {project.name}", body, project.name, "/runs")


def _offline_table(project: ProjectData, offline: list[Row]) -> str:
    """Runs logged offline that the tracking server does not have yet."""
    if not offline:
        return ""
    rows = [
        [e(r["name"]), f"<code>{e(r['run_id'][:12])}</code>", e(fmt_time(r["start_time"]))]
        for r in offline
    ]
    sync = mlops_command("sync", "-p", project.name, "--repo-root", project.client.settings.root)
    note = (
        '<p class="muted">logged while the tracking server could not be reached; the '
        "delivery process sends them when it answers again, while it keeps trying "
        "(<code>telemetry.agent_linger</code> after the last logging process ended); "
        f"after that, <code>{e(sync)}</code> does</p>"
    )
    return "<h2>Not synced yet (offline)</h2>" + note + table(["run", "local id", "started"], rows)


def _hardware_keys(runs: list[Row]) -> list[str]:
    """The hardware metrics compared across runs: CPU, memory and each GPU's use."""
    logged = {k for r in runs for k in r["metrics"] if k.startswith(SYSTEM_PREFIX)}
    wanted = [f"{SYSTEM_PREFIX}{name}" for name in _HARDWARE]
    gpus = sorted(k for k in logged if _GPU_USE.match(k))
    return [k for k in wanted if k in logged] + gpus[:4]


def _traces_by_key(
    project: ProjectData, runs: list[Row], keys: list[str], notices: Notices
) -> dict[str, dict[str, charts.Series]]:
    traces: dict[str, dict[str, charts.Series]] = {key: {} for key in keys}
    for run in runs:
        wanted = [k for k in keys if k in run["metrics"]]
        for key, points in _histories(project, run["run_id"], wanted, notices).items():
            traces[key][f"{run['name']} ({run['run_id'][:6]})"] = points
    return traces


def _histories(
    project: ProjectData, run_id: str, keys: list[str], notices: Notices
) -> dict[str, list[dict[str, float]]]:
    return notices.read(f"metrics of run {run_id}", lambda: project.histories(run_id, keys)) or {}


def run_page(project: ProjectData, run_id: str) -> str:
    """One run: params, final metrics, data versions, training and hardware charts."""
    run = project.run(run_id)
    notices = Notices()
    keys = sorted(run["metrics"])[: MAX_CHARTS * 2]
    series = _histories(project, run_id, keys, notices)
    training = [
        charts.line_chart(k, {k: v}) for k, v in series.items() if not k.startswith(SYSTEM_PREFIX)
    ]
    system = [
        charts.line_chart(k[len(SYSTEM_PREFIX) :], {k: v}, x="time")
        for k, v in series.items()
        if k.startswith(SYSTEM_PREFIX)
    ]
    facts = f"{e(run['status'])} · started {e(fmt_time(run['start_time']))} UTC"
    body = notices.html() + f"<p><code>{e(run_id)}</code> · {facts} · {e(run['run_type'])}</p>"
    body += f"<h2>Params</h2>{kv_table(run['params'])}"
    booleans = BOOLEAN_METRICS if run["run_type"] == "monitoring" else ()
    body += f"<h2>Final metrics</h2>{kv_table(run['metrics'], booleans=booleans)}"
    body += f"<h2>Data versions</h2>{_versions_table(run['data_versions'])}"
    body += "<h2>Training metrics</h2>" + _charts(training, "none logged")
    body += "<h2>Hardware (system) metrics</h2>"
    body += _charts(system, "none: start the run with log_system_metrics=True")
    return layout(f"Run {run['name']}", body, project.name, "/runs")


def _versions_table(versions: list[Row]) -> str:
    rows = [
        [e(v.get("path")), f"<code>{e(v.get('md5'))}</code>", e(v.get("size")), e(v.get("context"))]
        for v in versions
    ]
    return table(["path", "md5", "bytes", "context"], rows, "no DVC data versions recorded")


def data_page(project: ProjectData) -> str:
    """Each data version (DVC path and md5) and the runs that used it."""
    notices = Notices()
    versions = notices.read("data versions", project.data_versions) or []
    rows = [
        [
            e(v.get("path")),
            f"<code>{e(v.get('md5'))}</code>",
            e(v.get("size")),
            e(v.get("nfiles")),
            e(v.get("remote")),
            "<br>".join(_use(project.name, r) for r in v["runs"]),
        ]
        for v in versions
    ]
    headers = ["path", "md5", "bytes", "files", "remote", "used by runs"]
    body = notices.html() + table(headers, rows, "no DVC data versions recorded on runs yet")
    return layout(f"Data versions of {project.name}", body, project.name, "/data")


def _use(project: str, run: Row) -> str:
    when = f"{e(run['context'])}, {e(fmt_time(run['start_time']))}"
    name = f"{run['name']} ({run['run_id'][:8]})"
    return f'{_run_link(project, run["run_id"], name)} <span class="muted">{when}</span>'


def models_page(project: ProjectData) -> str:
    """Registered model versions of the project's runs, and the Bentos built from them."""
    notices = Notices()
    versions = notices.read("model versions", project.model_versions) or []
    bentos = notices.read("the BentoML store", project.bentos) or []
    body = notices.html() + "<h2>Registered model versions</h2>"
    headers = ["model", "run", "source", "status", "registered (UTC)", "aliases"]
    body += table(headers, [_version_row(project.name, v) for v in versions], "none registered")
    body += "<h2>Bentos (deployable builds)</h2>"
    headers = ["bento", "model version", "run", "built (UTC)", "path"]
    body += table(headers, [_bento_row(b) for b in bentos], "no Bento built yet")
    return layout(f"Models of {project.name}", body, project.name, "/models")


def _version_row(project: str, v: Row) -> list[str]:
    lineage = project_url(project, f"/lineage?model={v['name']}&version={v['version']}")
    return [
        link(lineage, f"{v['name']} v{v['version']}"),
        _run_link(project, v["run_id"], str(v["run_id"])[:12]),
        f"<code>{e(v['source'])}</code>",
        e(v["status"]),
        e(fmt_time(v["creation_timestamp"])),
        e(", ".join(v["aliases"])),
    ]


def _bento_row(bento: Row) -> list[str]:
    labels = bento["labels"]
    model = f"{labels.get('registered_model', '')} v{labels.get('registered_version', '')}"
    return [
        f"<code>{e(bento['tag'])}</code>",
        e(model),
        e(str(labels.get("run_id") or "")[:12]),
        e(bento["created"]),
        f"<code>{e(bento['path'])}</code>",
    ]


def monitoring_page(project: ProjectData) -> str:
    """Drift share and quality per check, alerting checks, and the reference in use."""
    notices = Notices()
    mon = notices.read("the monitoring history", project.monitoring) or {}
    checks: list[Row] = mon.get("checks", [])
    quality = {k: v for k, v in mon.get("series", {}).items() if k.startswith("perf/")}
    figures = []
    if checks:
        figures.append(charts.drift_chart(checks, project.client.settings.monitoring.drift_share))
    if quality:
        figures.append(charts.line_chart("Quality per check", quality, y_title="value"))
    body = notices.html() + _charts(figures, "no monitoring check yet")
    headers = ["check", "time (UTC)", "drift share", "limit", "dataset drift", "drifted columns"]
    headers += ["alerts", "retrain?", "rows"]
    body += "<h2>Checks</h2>" + table(headers, [_check_row(c) for c in reversed(checks)], "none")
    reference = {k: v for k, v in mon.get("reference", {}).items() if k in _REFERENCE_KEYS}
    body += "<h2>Reference</h2>" + kv_table(reference, "none set")
    if mon.get("reports"):
        items = "".join(f"<li><code>{e(r)}</code></li>" for r in mon["reports"][-10:])
        body += f"<h2>Evidently reports (workspace reports/ folder)</h2><ul>{items}</ul>"
    return layout(f"Monitoring of {project.name}", body, project.name, "/monitoring")


def _check_row(check: Row) -> list[str]:
    alerts = "0"
    if check.get("alerts"):
        kinds = ", ".join(check["alert_types"]) or "see the report"
        alerts = f'<span class="bad">{e(int(check["alerts"]))}: {e(kinds)}</span>'
    return [
        e(check["check"]),
        e(fmt_time(check.get("timestamp"))),
        fmt_num(check.get("drift_share")),
        fmt_num(check.get("drift_share_limit", "-")),  # the limit this check was judged with
        yes_no(check.get("dataset_drift", 0)),
        fmt_num(check.get("drifted_columns")),
        alerts,
        yes_no(check.get("retraining_suggested", 0)),
        fmt_num(check.get("rows")),
    ]


def lineage_page(project: ProjectData, model: str | None, version: str | None) -> str:
    """The lineage chain of a model version as a picture, with the raw record below it."""
    notices = Notices()
    versions = notices.read("model versions", project.model_versions) or []
    names = sorted({v["name"] for v in versions})
    model = model or (versions[0]["name"] if versions else None)
    chain = None
    if model is not None:
        chain = notices.read(f"the lineage of {model}", lambda: project.lineage(model, version))
    picker = " · ".join(link(project_url(project.name, f"/lineage?model={n}"), n) for n in names)
    body = notices.html() + (f"<p>Models: {picker}</p>" if picker else "")
    if model is None:
        body += '<p class="muted">no registered model in this project yet</p>'
    elif chain is not None:
        body += _chain_html(model, version, chain)
    return layout(f"Lineage of {project.name}", body, project.name, "/lineage")


def _chain_html(model: str, version: str | None, chain: Row) -> str:
    origin = (
        "assembled by the dashboard from the records (client.lineage() is not available)"
        if chain.get("assembled_by")
        else "from client.lineage()"
    )
    title = f"{model} {'v' + version if version else '(latest version)'}"
    return (
        f'<h2>{e(title)}</h2><div class="pic">{lineage_svg(chain)}</div>'
        f'<p class="muted">{e(origin)}</p>'
        f"<details><summary>The record</summary>{json_block(chain)}</details>"
    )
