"""`import mlops` and `create_client()` stay light: no heavy tool is imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "mlflow",
    "dvc",
    "bentoml",
    "evidently",
    "pandas",
    "sklearn",
    "torch",
    "numpy",
    "mlx",
    "mlx_lm",
    "transformers",
    "tokenizers",
    "peft",
)

SCRIPT = f"""
import json, sys
import mlops
from mlops.client import MLOpsClient, create_client, MLOpsClientError
client = create_client("p", repo_root=sys.argv[1])
client.get_workspace_path("outputs")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})))
"""


def test_no_heavy_modules(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == []


def test_public_names() -> None:
    import mlops
    import mlops.client

    assert mlops.__all__ == sorted(mlops.__all__)
    assert mlops.client.__all__ == sorted(mlops.client.__all__)
    assert mlops.MLOpsClient is mlops.client.MLOpsClient
    spec_names = [
        "from_project",
        "start_run",
        "log_params",
        "log_metrics",
        "log_apple_silicon_metrics",
        "log_artifact",
        "log_model",
        "dvc_add",
        "dvc_push",
        "dvc_pull",
        "deploy_model",
        "set_reference_data",
        "monitor_predictions",
        "get_workspace_path",
        "get_status",
    ]
    missing = [n for n in spec_names if not hasattr(mlops.client.MLOpsClient, n)]
    assert missing == []
