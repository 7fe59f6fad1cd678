"""Text monitoring: drift on Evidently text descriptors of prompts and completions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError
from mlops.testing.tiny_llama import CORPUS

pytestmark = pytest.mark.integration


@pytest.fixture
def client(repo: Path) -> Iterator[MLOpsClient]:
    """Dataset drift when a quarter of the descriptors drift: one text column's several
    descriptors move together, so the tabular default (half) would need two columns."""
    c = MLOpsClient.from_project("text", repo_root=repo, monitoring={"drift_share": 0.25})
    yield c
    c.close(timeout=10)


def _batch(rows: int, seed: int, sentences: int = 1) -> pd.DataFrame:
    """Prompts of `sentences` corpus sentences, completions, served latency and tokens/s."""
    rng = random.Random(seed)
    prompts = [" ".join(rng.choice(CORPUS) for _ in range(sentences)) for _ in range(rows)]
    return pd.DataFrame(
        {
            "prompt": prompts,
            "completion": [" ".join(rng.choice(CORPUS).split()[2:]) for _ in range(rows)],
            "latency_ms": [rng.gauss(40, 4) for _ in range(rows)],
            "tokens_per_second": [rng.gauss(300, 20) for _ in range(rows)],
        }
    )


def test_longer_prompts_drift_and_similar_ones_do_not(client: MLOpsClient) -> None:
    schema = client.set_reference_data(_batch(300, seed=1))
    assert schema["features"] == [
        *(f"prompt_{d}" for d in ("length", "words", "sentences", "non_letter_share", "oov_share")),
        *(
            f"completion_{d}"
            for d in ("length", "words", "sentences", "non_letter_share", "oov_share")
        ),
        "latency_ms",
        "tokens_per_second",
    ]
    alike = client.monitor_predictions(_batch(200, seed=2), latency_ms=40.0)
    assert alike["drift_detected"] is False
    assert alike["retraining_suggested"] is False and alike["alerts"] == []

    longer = client.monitor_predictions(_batch(200, seed=3, sentences=6), latency_ms=40.0)
    assert longer["drift_detected"] is True
    assert {"prompt_length", "prompt_words", "prompt_sentences"} <= set(longer["drifted_columns"])
    assert not any(c.startswith("completion_") for c in longer["drifted_columns"])
    assert [a["type"] for a in longer["alerts"]] == ["data_drift"]
    assert longer["retraining_suggested"] is True
    assert longer["mlflow_run_id"] is not None and longer["report_path"].endswith(".html")


def test_out_of_vocabulary_prompts(client: MLOpsClient) -> None:
    client.set_reference_data(_batch(200, seed=4))
    foreign = _batch(200, seed=5)
    foreign["prompt"] = [f"zorblat quixe {i} vexnor plimbus" for i in range(200)]
    result = client.monitor_predictions(foreign)
    assert result["column_drift"]["prompt_oov_share"]["drifted"] is True


def test_text_and_tabular_do_not_mix(client: MLOpsClient) -> None:
    client.set_reference_data(_batch(50, seed=6))
    with pytest.raises(InvalidInputError, match="no 'prompt' column"):
        client.monitor_predictions(pd.DataFrame({"x": [1.0, 2.0]}))
    with pytest.raises(InvalidInputError, match="text column"):
        client.monitor_predictions(_batch(20, seed=7).drop(columns=["completion"]))
    client.set_reference_data(pd.DataFrame({"x": [1.0, 2.0, 3.0]}))  # tabular again
    with pytest.raises(InvalidInputError, match="reference is tabular"):
        client.monitor_predictions(_batch(20, seed=8))
