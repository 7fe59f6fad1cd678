"""``mlops demo``: the whole lifecycle on the embedded defaults, in one command.

Uses scikit-learn's bundled breast-cancer data (nothing is downloaded): versions it
with DVC, trains a model in a run (params, per-epoch metrics, system metrics), logs
and registers it, deploys it with BentoML and serves it, sends real requests, sets the
monitoring reference, checks a shifted "production" batch, fires an alert, stops the
server and prints a summary.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from mlops.client import MLOpsClient
from mlops.invocation import mlops_command, shell_command

__all__ = ["DemoResult", "run_demo"]

PROJECT = "mlops-demo"
MODEL_NAME = "demo-classifier"
# Production drifts on every "mean ..." column: 10 of 30 features, above the demo's 0.3 share.
DRIFT_SHARE = 0.3


@dataclass
class DemoResult:
    """What the demo made, where to find it."""

    root: Path
    run_id: str = ""
    data_version: dict[str, Any] = field(default_factory=dict)
    model_version: str = ""
    bento_tag: str = ""
    endpoint: str = ""
    predictions_match: bool = False
    monitoring: dict[str, Any] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    server: Any = None
    next_steps: list[str] = field(default_factory=list)


class _Steps:
    """Prints each step with a spinner while it runs and its time when done."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.number = 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.number += 1
        started = time.perf_counter()
        with self.console.status(f"[{self.number}] {title}..."):
            yield
        took = time.perf_counter() - started
        self.console.print(f"[green]✓[/] [{self.number}] {title} [dim]({took:.1f} s)[/]")


def run_demo(
    directory: Path, keep_serving: bool = False, console: Console | None = None
) -> DemoResult:
    """Run the whole lifecycle in ``directory`` (made a git repository if it is not one)."""
    console = console or Console()
    started = time.perf_counter()
    result = DemoResult(root=directory.resolve())
    steps = _Steps(console)
    with steps.step("prepare the folder and the data"):
        _prepare_repo(result.root)
        train, prod = _datasets(result.root)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        client = MLOpsClient.from_project(
            PROJECT,
            repo_root=result.root,
            hardware={"interval": 1.0},
            monitoring={"drift_share": DRIFT_SHARE},
        )
    try:
        model = _train(client, steps, train, result)
        _deploy_and_serve(client, steps, prod, model, result)
        _monitor(client, steps, result, train=train, prod=prod, model=model)
    finally:
        if result.server is not None and not keep_serving:
            with steps.step("stop the model server"):
                result.server.stop()
        client.close()
    result.seconds = time.perf_counter() - started
    _summary(console, client, result, keep_serving)
    return result


def _prepare_repo(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if not (root / ".git").exists():
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        (root / ".gitignore").write_text(".mlops/\n")  # local stores stay out of git
    (root / "data").mkdir(exist_ok=True)


def _datasets(root: Path) -> tuple[Any, Any]:
    """Training data written to data/train.csv; a held-out 'production' batch."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    train, prod = train_test_split(frame, test_size=0.35, random_state=7, stratify=frame["target"])
    train = train.reset_index(drop=True)
    train.to_csv(root / "data" / "train.csv", index=False)
    return train, prod.reset_index(drop=True)


def _features(df: Any) -> Any:
    return df.drop(columns=["target"])


def _train(client: MLOpsClient, steps: _Steps, train: Any, result: DemoResult) -> Any:
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    epochs, alpha = 15, 1e-3
    params = {"model": "SGDClassifier", "loss": "log_loss", "alpha": alpha, "epochs": epochs}
    with client.start_run(run_name="demo-train", log_system_metrics=True) as run:
        result.run_id = run.info.run_id
        with steps.step("version the training data with DVC (inside the run)"):
            result.data_version = client.dvc_add("data/train.csv")
            client.dvc_push()
        with steps.step("train: params, per-epoch metrics, system metrics"):
            x_fit, x_val, y_fit, y_val = train_test_split(
                _features(train), train["target"], test_size=0.2, random_state=0
            )
            scaler = StandardScaler().fit(x_fit)
            clf = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0)
            client.log_params(params)
            for epoch in range(epochs):
                clf.partial_fit(scaler.transform(x_fit), y_fit, classes=[0, 1])
                proba = clf.predict_proba(scaler.transform(x_val))
                client.log_metrics(
                    {
                        "train_accuracy": clf.score(scaler.transform(x_fit), y_fit),
                        "val_accuracy": clf.score(scaler.transform(x_val), y_val),
                        "val_log_loss": log_loss(y_val, proba),
                    },
                    step=epoch,
                )
            model = Pipeline([("scale", scaler), ("clf", clf)])
        with steps.step("log and register the model in MLflow"):
            info = client.log_model(model, "model", registered_model_name=MODEL_NAME)
            result.model_version = str(info.registered_model_version)
    return model


def _deploy_and_serve(
    client: MLOpsClient, steps: _Steps, prod: Any, model: Any, result: DemoResult
) -> None:
    with steps.step("deploy with BentoML: import the model, build the Bento"):
        deployed = client.deploy_model(
            f"models:/{MODEL_NAME}/{result.model_version}", "demo_classifier"
        )
        result.bento_tag = deployed["bento_tag"]
    with steps.step("serve it and send real requests"):
        server = client.serve(result.bento_tag)
        result.server, result.endpoint = server, f"{server.url}/predict"
        records = _features(prod).to_dict(orient="records")
        served = [
            p for i in range(0, len(records), 50) for p in server.predict(records[i : i + 50])
        ]
        local = model.predict(_features(prod)).tolist()
        result.predictions_match = [int(p) for p in served] == [int(p) for p in local]


def _monitor(
    client: MLOpsClient, steps: _Steps, result: DemoResult, *, train: Any, prod: Any, model: Any
) -> None:
    with steps.step("monitor: reference, then a shifted production batch"):
        reference = train.assign(prediction=model.predict(_features(train)))
        client.set_reference_data(reference, "target", "prediction")
        shifted = prod.copy()
        for column in [c for c in shifted.columns if c.startswith("mean ")]:
            shifted[column] = shifted[column] * 1.6 + shifted[column].std()
        served = result.server.predict(_features(shifted).to_dict(orient="records"))
        batch = shifted.assign(prediction=[int(p) for p in served])
        client.add_alert_handler(result.alerts.append)
        latency = result.server.latency_stats()
        result.monitoring = client.monitor_predictions(
            batch, "target", "prediction", latency_ms=latency.get("mean_ms")
        )
        client.flush_alerts(10)


def _columns(mon: dict[str, Any]) -> str:
    names = list(mon.get("drifted_columns", []))
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"drifted: {shown}" if names else "no column drifted"


def _alerts(alerts: list[dict[str, Any]], delivered: list[dict[str, Any]]) -> str:
    if not alerts:
        return "-"
    kinds = ", ".join(dict.fromkeys(str(a.get("type")) for a in alerts))
    return f"{len(alerts)} fired ({kinds}); handler received {len(delivered)} event(s)"


def _summary(console: Console, client: MLOpsClient, result: DemoResult, keep_serving: bool) -> None:
    mon = result.monitoring
    table = Table(title=f"mlops demo finished in {result.seconds:.1f} s", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    data = result.data_version
    verdict = "DRIFT" if mon.get("drift_detected") else "no drift"
    rows = [
        ("run id", result.run_id),
        ("data version", f"{data.get('path')} md5 {data.get('md5')}"),
        ("model version", f"{MODEL_NAME} v{result.model_version}"),
        ("bento", result.bento_tag),
        ("endpoint", result.endpoint + ("" if keep_serving else " (stopped)")),
        ("served = local predictions", "yes" if result.predictions_match else "NO"),
        ("drift verdict", f"{verdict}: share {mon.get('drift_share', 0):.2f}, {_columns(mon)}"),
        ("alerts", _alerts(mon.get("alerts", []), result.alerts)),
        ("retraining suggested", str(mon.get("retraining_suggested"))),
    ]
    for key, value in rows:
        table.add_row(key, str(value))
    console.print(table)
    console.print("where to look next:")
    result.next_steps = next_steps(result.root, client.settings.tracking_uri, result.model_version)
    for line in result.next_steps:
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"  monitoring report: {mon.get('report_path')}", markup=False, soft_wrap=True)


def next_steps(root: Path, tracking_uri: str, model_version: str) -> list[str]:
    """The commands the summary prints, each runnable as printed from any folder."""
    where = ("-p", PROJECT, "--repo-root", root)
    return [
        mlops_command("runs", "list", *where),
        mlops_command("lineage", f"{MODEL_NAME}@{model_version}", *where),
        shell_command("mlflow", "ui", "--backend-store-uri", tracking_uri),
        mlops_command("dashboard", *where),
        mlops_command("monitor", "ui", *where),
    ]
