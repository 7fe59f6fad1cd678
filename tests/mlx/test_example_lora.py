"""`examples/lora_mlx.py` as a user runs it, on the tiny llama it builds (nothing downloaded)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops.client import MLOpsClient
from tests.conftest import REPO

pytestmark = pytest.mark.integration
EXAMPLE = REPO / "examples" / "lora_mlx.py"


def test_example_trains_serves_monitors_and_prints_lineage(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOPS_")}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--iters", "30"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    run_id = re.search(r"^run ([0-9a-f]{32}): train_loss \d", out, re.M)
    assert run_id is not None, out
    assert "registered lora_adapter v1" in out
    assert re.search(r"^'What is LoRA\?' -> '.*'$", out, re.M), out
    # The much longer prompts are text drift at the default settings.
    assert "drift: True ['prompt_length', 'prompt_words'" in out
    assert re.search(r"^retraining suggested: True \[.*text column 'prompt'", out, re.M), out
    # The lineage it prints: data version -> run -> registered version -> Bento -> check.
    assert re.search(r"^  data {8}data/lora \(md5 [0-9a-f]{32}\.dir\)$", out, re.M), out
    assert f"  run         {run_id[1]}\n" in out
    assert "  model       lora_adapter v1\n" in out
    bento = re.search(r"^  bentos {6}(lora_adapter:\w+)$", out, re.M)
    assert bento is not None and f"bento {bento[1]}" in out
    assert "  monitoring  1 check(s)\n" in out

    client = MLOpsClient.from_project("lora-finetuning-mlx", repo_root=repo)
    reader = MlflowClient(client.settings.tracking_uri)
    assert reader.get_model_version("lora_adapter", "1").run_id == run_id[1]
    assert "system/mlx_peak_memory_megabytes" in reader.get_run(run_id[1]).data.metrics
    assert (repo / "data" / "lora.dvc").is_file() and (repo / "models" / "tiny-llama").is_dir()
    client.close()
