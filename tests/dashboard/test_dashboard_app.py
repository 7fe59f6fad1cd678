"""The web app on real stores without a browser: read-only, empty projects, tokens, charts.

Requests go through Starlette's TestClient (in process); the browser tests
are in tests/integration/test_dashboard.py.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from fastapi.testclient import TestClient

from mlops.dashboard.app import create_app
from mlops.dashboard.charts import chart, drift_chart, line_chart
from mlops.dashboard.pages import kv_table
from mlops.errors import ConfigurationError

TOKEN = "unit-test-token-0123456789"
PAGES = ["/", "/p/empty", "/p/empty/runs", "/p/empty/data", "/p/empty/models"]
PAGES += ["/p/empty/monitoring", "/p/empty/lineage"]


def _http(app: Any, host: str = "127.0.0.1:8765") -> TestClient:
    return TestClient(app, base_url=f"http://{host}")


def test_pages_of_a_project_with_no_records_write_nothing(tmp_path: Path) -> None:
    app = create_app(tmp_path, project="empty")
    with _http(app) as http:
        for page in PAGES:
            response = http.get(page)
            assert response.status_code == 200, page
            assert "could not read" not in response.text, page
        assert "no runs yet" in http.get("/p/empty/runs").text
        assert "no registered model" in http.get("/p/empty/lineage").text
    assert not (tmp_path / ".mlops").exists()  # no store, experiment or folder was created


def test_runs_and_run_page_of_a_real_run(client: Any, repo: Path) -> None:
    with client.start_run(run_name="fit <b>") as run:
        client.log_params({"lr": 0.1})
        for step in range(3):
            client.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    run_id = run.info.run_id
    with _http(create_app(repo)) as http:
        assert "test-project" in http.get("/").text
        runs = http.get("/p/test-project/runs").text
        assert "fit &lt;b&gt;" in runs and "<b>" not in runs.split("<main>")[1]
        figures = _figures(runs)
        assert [f["layout"]["title"]["text"] for f in figures] == ["loss"]
        assert figures[0]["data"][0]["y"] == [1.0, 0.5, 1 / 3]
        page = http.get(f"/p/test-project/runs/{run_id}").text
        assert "lr" in page and "log_system_metrics=True" in page
        assert http.get("/p/test-project/runs/0123456789abcdef").status_code == 404
        assert http.get("/p/other-project/runs").status_code == 404
        assert http.get("/p/..%2Fetc/runs").status_code == 404


def _figures(page: str) -> list[dict[str, Any]]:
    blocks = re.findall(r'<script type="application/json" id="[^"]+">(.*?)</script>', page)
    return [json.loads(b) for b in blocks]


def test_only_get_and_security_headers(tmp_path: Path) -> None:
    with _http(create_app(tmp_path, project="empty")) as http:
        assert http.post("/").status_code == 405
        assert http.put("/p/empty/runs").status_code == 405
        response = http.get("/")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        assert response.headers["x-frame-options"] == "DENY"
        js = http.get("/static/plotly.min.js")
        assert js.status_code == 200 and len(js.content) > 1_000_000
        assert "Plotly.newPlot" in http.get("/static/dashboard.js").text


def test_loopback_without_token_refuses_foreign_host_names(tmp_path: Path) -> None:
    app = create_app(tmp_path, project="empty")
    assert _http(app, "localhost:8765").get("/").status_code == 200
    assert _http(app, "rebind.attacker.example").get("/").status_code == 403


def test_non_loopback_bind_requires_a_token(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="token is required"):
        create_app(tmp_path, host="0.0.0.0")
    app = create_app(tmp_path, project="empty", token=TOKEN, host="0.0.0.0")
    http = _http(app, "192.0.2.1:8765")  # any Host is fine once a token guards the app
    assert http.get("/").status_code == 401
    assert http.get("/healthz").status_code == 401
    assert http.get("/", headers={"X-MLOps-Token": "wrong" * 5}).status_code == 403
    assert http.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    hop = http.get(f"/p/empty/runs?token={TOKEN}&x=1", follow_redirects=False)
    assert hop.status_code == 303 and hop.headers["location"] == "/p/empty/runs?x=1"
    assert http.get("/p/empty/data").status_code == 200  # the cookie from the redirect


def test_chart_json_cannot_close_its_script_tag() -> None:
    html = line_chart(
        "</script><script>alert(1)</script>", {"a": [{"step": 0, "timestamp": 0, "value": 1.0}]}
    )
    assert "</script><script>alert" not in html
    assert html.count("</script>") == 1
    (figure,) = _figures(html)  # the escaped JSON still reads back to the same title
    assert (
        figure["layout"]["title"]["text"] == "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"
    )
    assert chart(go.Figure()).startswith('<div class="chart" data-figure="chart-')


def _check(number: int, share: float, **recorded: float) -> dict[str, Any]:
    return {"check": number, "drift_share": share, "alerts": 0, **recorded}


def test_drift_chart_draws_the_limit_each_check_was_judged_with() -> None:
    checks = [_check(1, 0.2, drift_share_limit=0.5), _check(2, 0.4, drift_share_limit=0.3)]
    (figure,) = _figures(drift_chart(checks, configured=0.5))
    traces = {t["name"]: t for t in figure["data"]}
    assert traces["limit of the check"]["x"] == [1, 2]
    assert traces["limit of the check"]["y"] == [0.5, 0.3]
    assert not figure["layout"].get("shapes")  # the configured value is not drawn over them


def test_drift_chart_without_recorded_limits_says_the_line_is_the_configured_one() -> None:
    (figure,) = _figures(drift_chart([_check(1, 0.2), _check(2, 0.4)], configured=0.5))
    assert "limit of the check" not in {t["name"] for t in figure["data"]}
    (line,) = figure["layout"]["shapes"]
    assert (line["y0"], line["y1"]) == (0.5, 0.5)
    (note,) = figure["layout"]["annotations"]
    assert note["text"] == "configured limit (not recorded with these checks)"


def test_limits_and_references_are_dashed_in_line_charts() -> None:
    point = [{"step": 1, "timestamp": 0, "value": 0.9}]
    traces = {
        "perf/accuracy": point,
        "perf/accuracy_limit": point,
        "perf/accuracy_reference": point,
    }
    (figure,) = _figures(line_chart("Quality per check", traces))
    dash = {t["name"]: t.get("line", {}).get("dash") for t in figure["data"]}
    assert dash == {
        "perf/accuracy": None,
        "perf/accuracy_limit": "dash",
        "perf/accuracy_reference": "dot",
    }


def test_yes_no_facts_read_yes_or_no_in_key_value_tables() -> None:
    html = kv_table(
        {"dataset_drift": 1.0, "target_drift": 0.0, "rows": 1.0},
        booleans={"dataset_drift", "target_drift"},
    )
    cells = re.findall(r"<td>(.*?)</td>", html)
    assert cells == [
        "<code>dataset_drift</code>",
        '<span class="bad">yes</span>',
        "<code>rows</code>",
        "1",  # a number, not a yes/no fact
        "<code>target_drift</code>",
        "no",
    ]


def test_all_projects_lists_valid_workspace_folders_only(tmp_path: Path) -> None:
    workspaces = tmp_path / ".mlops" / "workspaces"
    for name in ("alpha", "beta.v2", "not a project", ".hidden"):
        (workspaces / name).mkdir(parents=True)
    with _http(create_app(tmp_path)) as http:
        page = http.get("/").text
        assert 'href="/p/alpha"' in page and 'href="/p/beta.v2"' in page
        assert "not a project" not in page and ".hidden" not in page
        assert http.get("/p/alpha/runs").status_code == 200
        assert http.get("/p/gamma/runs").status_code == 404
    assert not (tmp_path / ".mlops" / "mlflow.db").exists()


def test_runs_not_synced_yet_are_marked(tmp_path: Path) -> None:
    """A run logged offline shows under "Not synced yet"; it is not lost from sight."""
    from tests.conftest import free_port

    from mlops.client import MLOpsClient

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: the run starts offline
    away = MLOpsClient.from_project(
        "away",
        repo_root=tmp_path,
        tracking_uri=dead,
        telemetry={"agent_idle": 1, "agent_linger": 1},  # its agent gives up soon
    )
    with away.start_run(run_name="on-the-train") as run:
        away.log_metrics({"loss": 0.5}, step=1)
    away.close(timeout=0)
    app = create_app(tmp_path, project="away")  # the dashboard reads the embedded store
    with _http(app) as http:
        page = http.get("/p/away/runs").text
    assert "Not synced yet" in page and "on-the-train" in page
    assert run.info.run_id[:12] in page
    assert f"sync -p away --repo-root {tmp_path}" in page  # how to deliver it by hand


@contextmanager
def _no_delivery(wal: Path, key: str) -> Iterator[None]:
    """Hold the delivery agent's lock (once the running agent has gone idle and exited),
    so that no agent delivers what the test leaves waiting in the log."""
    from mlops.telemetry.agent import agent_lock

    deadline = time.monotonic() + 60
    while True:
        with agent_lock(wal, key, wait=False) as held:
            if held:
                yield
                return
        assert time.monotonic() < deadline, "the delivery agent did not go idle"
        time.sleep(0.2)


def test_runs_with_points_still_on_their_way_are_marked_syncing(repo: Path) -> None:
    """A stored run whose points still wait in the write-ahead log reads "· syncing"."""
    from mlops.client import MLOpsClient
    from mlops.telemetry.agent import store_key
    from mlops.telemetry.wal import Segment, encode_points, writer_id

    client = MLOpsClient.from_project("busy", repo_root=repo, telemetry={"agent_idle": 0.5})
    with client.start_run(run_name="still-coming") as coming:
        client.log_metrics({"loss": 1.0}, step=0)
    with client.start_run(run_name="all-in"):
        client.log_metrics({"loss": 1.0}, step=0)
    client.close(timeout=10)
    wal = client.workspace.root / "wal"
    with _no_delivery(wal, store_key(client.settings)):
        # what a process cut off before delivery leaves: one more point, not acknowledged
        segment = Segment.create(wal, coming.info.run_id, writer_id(), 0)
        segment.append(encode_points([("loss", 0.5)], 1, int(time.time() * 1000)))
        segment.close(delete=False)
        with _http(create_app(repo, project="busy")) as http:
            page = http.get("/p/busy/runs").text
    rows = {
        name: row
        for row in re.findall(r"<tr>(.*?)</tr>", page, re.S)
        for name in ("still-coming", "all-in")
        if f">{name}<" in row
    }
    assert "FINISHED · syncing" in rows["still-coming"]
    assert "FINISHED" in rows["all-in"] and "syncing" not in rows["all-in"]


def test_service_check_times_in_another_form_leave_a_blank_not_an_error() -> None:
    from mlops.dashboard.data import service_checks

    history = [
        {"name": "check 1", "timestamp": "2026-12-03T10:00:00", "id": "a"},
        {"name": "check 2", "timestamp": "2026-12-03T10:00:00Z", "id": "b"},
        {"name": "check 3", "timestamp": 1796292000, "id": "c"},
        {"name": "check 4", "timestamp": "yesterday", "id": "d"},
        {"name": "check 5", "timestamp": None, "id": "e"},
        {"name": "check 6", "timestamp": {"seconds": 1}, "id": "f"},
    ]
    rows = {row["check"]: row["timestamp"] for row in service_checks(history)}
    assert rows[2] == 1796292000000 and rows[3] == 1796292000000
    assert isinstance(rows[1], int)
    assert rows[4] is None and rows[5] is None and rows[6] is None
