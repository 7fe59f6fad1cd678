"""The dashboard on real records, served by real uvicorn, looked at by real headless Chromium.

One repository gets two projects recorded through the real client (runs with
training and system metrics; where the tools work, a DVC data version, a
registered model, a Bento and two Evidently checks). `mlops dashboard` runs
as a child process on 127.0.0.1 and Debian's Chromium (Playwright) loads each
page: no console error, no failed request, charts drawn, a screenshot saved
under tests/artifacts/dashboard/. A second server binds 0.0.0.0 with a token
and is reached only at 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port

from .test_monitoring_service import evidently_service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "dashboard"
TOKEN = "dashboard-test-token-0123456789"
__all__ = ["evidently_service"]  # a fixture used here
# The real CLI, with the dashboard command added if cli/__init__.py does not register it yet.
CLI = """
import sys
from mlops.cli import app, dashboard
if not any(c.name == "dashboard" for c in app.registered_commands):
    dashboard.register(app)
sys.argv[0] = "mlops"
app()
"""


@dataclass
class Recorded:
    """What the fixture recorded, and why any optional part could not be."""

    root: Path
    runs: dict[str, str] = field(default_factory=dict)
    md5: str | None = None
    bento_tag: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)

    def need(self, part: str) -> None:
        if part in self.skipped:
            pytest.skip(f"{part} could not be recorded: {self.skipped[part]}")


def _optional(rec: Recorded, part: str, step: Callable[[], None]) -> None:
    # Other components are checked by their own tests; here a broken one only skips its page.
    try:
        step()
    except Exception as exc:
        rec.skipped[part] = f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    root = tmp_path_factory.mktemp("dashboard") / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    rec = Recorded(root)
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("MLOPS_")]:
            mp.delenv(name)
        mp.chdir(root)
        _record_project_a(rec)
        _record_project_b(rec)
    yield rec


def _record_project_a(rec: Recorded) -> None:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from mlops.client import MLOpsClient

    x, y = load_breast_cancer(return_X_y=True, as_frame=True)
    x = x.iloc[:, :5]
    (rec.root / "data").mkdir()
    x.assign(target=y).to_csv(rec.root / "data" / "train.csv", index=False)
    client = MLOpsClient.from_project(
        "dash-a", repo_root=rec.root, hardware={"interval": 0.2}, monitoring={"drift_share": 0.6}
    )
    model = LogisticRegression(max_iter=300).fit(x, y)
    with client.start_run(run_name="baseline") as run:
        client.log_params({"C": 0.5, "max_iter": 300})
        _optional(rec, "dvc", lambda: setattr(rec, "md5", client.dvc_add("data/train.csv")["md5"]))
        for step in range(6):
            client.log_metrics({"loss": 1 / (step + 1), "accuracy": 0.7 + step * 0.04}, step)
        rec.runs["baseline"] = run.info.run_id
    with client.start_run(run_name="train", log_system_metrics=True) as run:
        client.log_params({"C": 1.0, "max_iter": 300})
        if "dvc" not in rec.skipped:  # the same data again: one version, used by two runs
            _optional(rec, "dvc", lambda: client.dvc_add("data/train.csv"))
        for step in range(6):
            client.log_metrics({"loss": 0.8 / (step + 1), "accuracy": 0.75 + step * 0.04}, step)
            time.sleep(0.15)
        _optional(
            rec,
            "model",
            lambda: client.log_model(
                model, "model", registered_model_name="dash-model", input_example=x.iloc[:2]
            ),
        )
        rec.runs["train"] = run.info.run_id
    if "model" not in rec.skipped:
        _optional(rec, "bento", lambda: _deploy(client, rec))
    reference = x.assign(target=y, prediction=model.predict(x))
    _optional(rec, "monitoring", lambda: _monitor(rec, client, pd, reference, list(x.columns)))
    client.close(timeout=20)


def _deploy(client: Any, rec: Recorded) -> None:
    rec.bento_tag = client.deploy_model("models:/dash-model/1", "dash-model")["bento_tag"]


def _monitor(rec: Recorded, client: Any, pd: Any, reference: Any, features: list[str]) -> None:
    from mlops.client import MLOpsClient

    client.set_reference_data(reference, target_column="target", prediction_column="prediction")
    client.monitor_predictions(reference.sample(200, random_state=1))  # judged at drift_share 0.6
    shifted = reference.copy()
    for column in features[:4]:
        shifted[column] = shifted[column] * 3 + 5
    # The limit changes between checks, and neither is the configured 0.5 the dashboard reads.
    with MLOpsClient.from_project(
        "dash-a", repo_root=rec.root, monitoring={"drift_share": 0.3}
    ) as stricter:
        assert stricter.monitor_predictions(shifted)["alerts"], "a shifted batch must alert"
        found = stricter.records.monitoring_run()
        assert found is not None
        rec.runs["monitoring"] = found["run_id"]


def _record_project_b(rec: Recorded) -> None:
    from mlops.client import MLOpsClient

    with MLOpsClient.from_project("dash-b", repo_root=rec.root) as client:
        with client.start_run(run_name="other") as run:
            client.log_params({"lr": 0.01})
            for step in range(3):
                client.log_metrics({"rmse": 3.0 - step}, step)
        rec.runs["other"] = run.info.run_id


@dataclass
class Server:
    """A running `mlops dashboard` child process."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


def _start(root: Path, *args: str) -> Server:
    port = free_port()
    log = root.parent / f"dashboard-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", CLI, "dashboard", "--port", str(port), *args],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", port, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dashboard exited with {process.returncode}: {log.read_text()}")
        try:
            if _get(port, "/healthz", {"X-MLOps-Token": TOKEN})[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    _stop(server)
    pytest.fail(f"dashboard did not answer in 60 s: {log.read_text()}")


def _stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)


def _get(
    port: int, path: str, headers: dict[str, str] | None = None, method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def server(recorded: Recorded) -> Iterator[Server]:
    """All projects, on loopback, no token."""
    running = _start(recorded.root)
    yield running
    _stop(running)
    assert running.process.returncode == 0, running.log.read_text()


@pytest.fixture(scope="module")
def exposed(recorded: Recorded) -> Iterator[Server]:
    """Project dash-a only, bound to 0.0.0.0 with a token (reached at 127.0.0.1 only)."""
    running = _start(recorded.root, "--host", "0.0.0.0", "--token", TOKEN, "-p", "dash-a")
    yield running
    _stop(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield chromium
        chromium.close()


def visit(browser: Any, url: str, shot: str, charts: int = 0) -> Any:
    """Load ``url`` in a fresh page; fail on console errors or failed requests; screenshot it."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on(
        "response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
    )
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, url
    drawn = page.locator("div.chart.js-plotly-plot .main-svg")
    if charts:
        drawn.first.wait_for(state="visible", timeout=15_000)
    page.wait_for_timeout(200)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    assert problems == [], problems
    assert page.locator("div.chart").count() >= charts
    # Every chart placeholder was drawn by plotly (it adds its own svg layers).
    assert page.locator("div.chart.js-plotly-plot").count() == page.locator("div.chart").count()
    return page


def test_projects_index(server: Server, browser: Any, recorded: Recorded) -> None:
    page = visit(browser, server.url + "/", "index")
    text = page.inner_text("main")
    assert "dash-a" in text and "dash-b" in text
    page.context.close()


def test_project_overview(server: Server, browser: Any) -> None:
    page = visit(browser, server.url + "/p/dash-a", "overview")
    assert "baseline" in page.inner_text("main")
    page.context.close()


def test_runs_page_charts_training_metrics(server: Server, browser: Any) -> None:
    page = visit(browser, server.url + "/p/dash-a/runs", "runs", charts=4)
    text = page.inner_text("main")
    assert "baseline" in text and "train" in text
    titles = page.locator("div.chart .gtitle").all_text_contents()
    assert {"accuracy", "loss"} <= set(titles)
    assert {"cpu_utilization_percentage", "system_memory_usage_megabytes"} <= set(titles)
    assert "monitoring" not in [t.strip() for t in page.locator("tbody td a").all_inner_texts()]
    page.context.close()


def test_run_page_charts_hardware_metrics(server: Server, browser: Any, recorded: Recorded) -> None:
    run_id = recorded.runs["train"]
    page = visit(browser, f"{server.url}/p/dash-a/runs/{run_id}", "run", charts=3)
    titles = page.locator("div.chart .gtitle").all_text_contents()
    assert "loss" in titles
    assert "cpu_utilization_percentage" in titles
    assert page.locator("div.chart .scatterlayer .trace").count() >= 3
    page.context.close()


def test_data_page_links_versions_to_runs(server: Server, browser: Any, recorded: Recorded) -> None:
    recorded.need("dvc")
    page = visit(browser, server.url + "/p/dash-a/data", "data")
    text = page.inner_text("main")
    dvc_file = (recorded.root / "data" / "train.csv.dvc").read_text()
    assert recorded.md5 and recorded.md5 in dvc_file and recorded.md5 in text
    assert "data/train.csv" in text and "baseline" in text and "train (" in text
    page.context.close()


def test_models_page_lists_versions_and_bentos(
    server: Server, browser: Any, recorded: Recorded
) -> None:
    recorded.need("model")
    page = visit(browser, server.url + "/p/dash-a/models", "models")
    text = page.inner_text("main")
    assert "dash-model v1" in text
    recorded.need("bento")
    assert recorded.bento_tag and recorded.bento_tag in text
    page.context.close()


def test_monitoring_page_shows_drift_and_alerts(
    server: Server, browser: Any, recorded: Recorded
) -> None:
    recorded.need("monitoring")
    page = visit(browser, server.url + "/p/dash-a/monitoring", "monitoring", charts=1)
    text = page.inner_text("main")
    assert "data_drift" in text
    assert page.locator("div.chart .scatterlayer .point").count() >= 2  # one per check
    page.context.close()


def _figures(page: str) -> dict[str, dict[str, Any]]:
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page)
    figures = [json.loads(b) for b in blocks]
    return {f["layout"]["title"]["text"]: f for f in figures}


def _cells(page: str) -> list[list[str]]:
    """The text of each table row's cells (tags stripped)."""
    rows = re.findall(r"<tr>(.*?)</tr>", page, flags=re.S)
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td>(.*?)</td>", r)] for r in rows]


def test_each_check_is_drawn_against_the_limit_it_was_judged_with(
    server: Server, recorded: Recorded
) -> None:
    recorded.need("monitoring")
    status, _, body = _get(server.port, "/p/dash-a/monitoring")
    page = body.decode()
    assert status == 200
    drift = _figures(page)["Drift share per check"]
    traces = {t["name"]: t for t in drift["data"]}
    assert traces["limit of the check"]["x"] == [1, 2]
    assert traces["limit of the check"]["y"] == [0.6, 0.3]  # not the configured 0.5
    assert traces["drift share"]["y"][1] > 0.3 >= traces["drift share"]["y"][0]
    assert not drift["layout"].get("shapes")  # no configured-limit line over recorded ones
    quality = {t["name"]: t for t in _figures(page)["Quality per check"]["data"]}
    accuracy, limit = quality["perf/accuracy"]["y"], quality["perf/accuracy_limit"]["y"]
    reference = quality["perf/accuracy_reference"]["y"]
    assert limit == pytest.approx([r * 0.9 for r in reference])  # performance_drop 0.1
    assert all(a >= low for a, low in zip(accuracy, limit, strict=True))
    checks = {row[0]: row for row in _cells(page) if row and row[0] in ("1", "2")}
    # check | time | drift share | limit | dataset drift | drifted | alerts | retrain? | rows
    assert (checks["2"][3], checks["2"][4], checks["2"][7]) == ("0.3", "yes", "yes")
    assert (checks["1"][3], checks["1"][4], checks["1"][7]) == ("0.6", "no", "no")


def test_yes_no_facts_of_a_check_read_yes_or_no(server: Server, recorded: Recorded) -> None:
    recorded.need("monitoring")
    run_page = _get(server.port, f"/p/dash-a/runs/{recorded.runs['monitoring']}")[2].decode()
    metrics = {row[0]: row[1] for row in _cells(run_page) if len(row) == 2}
    assert metrics["dataset_drift"] == "yes" and metrics["retraining_suggested"] == "yes"
    assert metrics["target_drift"] == "no" and metrics["prediction_drift"] == "no"
    assert metrics["drift_share_limit"] == "0.3" and metrics["drifted_columns"] == "4"
    recorded.need("model")
    lineage = _get(server.port, "/p/dash-a/lineage?model=dash-model")[2].decode()
    texts = re.findall(r"<text[^>]*>([^<]*)</text>", lineage)
    assert "dataset_drift: yes" in texts and "retraining_suggested: yes" in texts
    assert not any(re.fullmatch(r"(dataset_drift|retraining_suggested): [01]", t) for t in texts)


def test_lineage_page_draws_the_chain(server: Server, browser: Any, recorded: Recorded) -> None:
    recorded.need("model")
    page = visit(browser, server.url + "/p/dash-a/lineage?model=dash-model", "lineage")
    svg = page.locator("main svg.lineage")
    assert svg.count() == 1 and svg.bounding_box()["width"] > 600
    nodes = page.locator("svg.lineage g.node").all_text_contents()
    assert any("dash-model v1" in n for n in nodes)
    assert any(recorded.runs["train"][:12] in n for n in nodes)
    if recorded.bento_tag:
        assert any(recorded.bento_tag[:20] in n for n in nodes)
    if recorded.md5:
        assert any(recorded.md5[:12] in n and "data/train.csv" in n for n in nodes)
    page.context.close()


def test_unknown_project_and_run_are_404(server: Server, recorded: Recorded) -> None:
    assert _get(server.port, "/p/nope/runs")[0] == 404
    assert _get(server.port, "/p/dash-b/runs/" + recorded.runs["train"])[0] == 404


def test_read_only_and_loopback_host_only(server: Server) -> None:
    assert _get(server.port, "/", method="POST")[0] == 405
    assert _get(server.port, "/p/dash-a/runs", method="DELETE")[0] == 405
    # A page from elsewhere reaching 127.0.0.1 by DNS rebinding carries its own Host name.
    assert _get(server.port, "/", {"Host": "attacker.example"})[0] == 403
    status, headers, _ = _get(server.port, "/")
    assert status == 200 and "script-src 'self'" in headers["content-security-policy"]


def test_exposed_bind_refuses_requests_without_the_token(exposed: Server) -> None:
    status, headers, _ = _get(exposed.port, "/")
    assert status == 401 and headers.get("www-authenticate") == "Bearer"
    assert _get(exposed.port, "/static/plotly.min.js")[0] == 401
    assert (
        _get(exposed.port, "/p/dash-a/runs", {"X-MLOps-Token": "wrong-token-0123456789"})[0] == 403
    )
    assert _get(exposed.port, "/p/dash-a/runs", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    status, headers, _ = _get(exposed.port, f"/p/dash-a/data?token={TOKEN}")
    assert status == 303 and headers["location"] == "/p/dash-a/data"
    assert "httponly" in headers["set-cookie"].lower()
    # It serves dash-a only.
    assert _get(exposed.port, "/p/dash-b/runs", {"X-MLOps-Token": TOKEN})[0] == 404


def test_exposed_bind_works_in_the_browser_with_the_token(exposed: Server, browser: Any) -> None:
    page = visit(browser, f"{exposed.url}/p/dash-a/runs?token={TOKEN}", "exposed-runs", charts=4)
    assert page.url.endswith("/p/dash-a/runs")  # the token left the address bar
    page.click("text=Monitoring")  # the cookie carries the token on
    assert page.locator("h1").inner_text() == "Monitoring of dash-a"
    page.context.close()


@pytest.mark.timeout(400)
def test_with_a_team_service_the_monitoring_page_and_lineage_read_every_machines_checks(
    evidently_service: str, tmp_path: Path
) -> None:
    """Two machines, each with its own tracking store, one Evidently UI service: the
    dashboard of B shows A's check (from the service) beside its own, and B's lineage names
    the service's newest check."""
    from sklearn.linear_model import LogisticRegression

    from mlops.client import MLOpsClient
    from mlops.dashboard.data import DashboardData

    from .test_monitoring import batch

    roots = {}
    for name in ("host-a", "host-b"):
        roots[name] = tmp_path / name
        roots[name].mkdir()  # the team's committed configuration, the same on both
        (roots[name] / "mlops.toml").write_text(
            f'[monitoring]\nworkspace = "{evidently_service}"\n'
        )
    checks = {}
    for name in ("host-a", "host-b"):
        with MLOpsClient.from_project("team-dash", repo_root=roots[name]) as client:
            if name == "host-b":
                with client.start_run(run_name="fit"):
                    fitted = LogisticRegression().fit(
                        batch(seed=1)[["f0", "f3"]], batch(seed=1)["y"]
                    )
                    client.log_model(fitted, "model", registered_model_name="team-dash-model")
            client.set_reference_data(batch(seed=1), target_column="y", prediction_column="pred")
            checks[name] = client.monitor_predictions(batch(seed=2 if name == "host-a" else 3))
    assert (checks["host-a"]["check"], checks["host-b"]["check"]) == (1, 2)

    data = DashboardData(roots["host-b"], "team-dash")
    try:
        monitoring = data.project_data("team-dash").monitoring()
        lineage = data.project_data("team-dash").lineage("team-dash-model")
    finally:
        data.close()
    assert [c["check"] for c in monitoring["checks"]] == [1, 2]  # A's only in the service
    a_check, b_check = monitoring["checks"]
    assert a_check["snapshot_id"] == checks["host-a"]["evidently"]["snapshot_id"]
    assert a_check.get("drift_share") is None and a_check["timestamp"]
    assert b_check["drift_share"] == pytest.approx(checks["host-b"]["drift_share"])
    assert monitoring["latest"]["snapshot_id"] == checks["host-b"]["evidently"]["snapshot_id"]
    assert monitoring["service"] == evidently_service
    assert lineage["monitoring"]["checks"] == 2 and lineage["monitoring"]["check"] == 2

    server = _start(roots["host-b"], "-p", "team-dash")
    try:
        status, _, body = _get(server.port, "/p/team-dash/monitoring")
        assert status == 200
        rows = {row[0]: row for row in _cells(body.decode()) if row and row[0] in ("1", "2")}
        # check | time | drift share | limit | dataset drift | drifted | alerts | retrain? | rows
        assert rows["1"][1] and rows["1"][2] == rows["1"][4] == rows["1"][7] == ""
        assert rows["2"][2] and rows["2"][4] in ("yes", "no")
        page = _get(server.port, "/p/team-dash/lineage?model=team-dash-model")[2].decode()
        assert "check: 2" in re.findall(r"<text[^>]*>([^<]*)</text>", page)
    finally:
        _stop(server)
