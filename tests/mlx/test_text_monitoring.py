"""Text monitoring: drift on Evidently text descriptors of prompts and completions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from mlops.client import MLOpsClient
from mlops.errors import InvalidInputError
from mlops.testing.tiny_llama import CORPUS, sample_prompts

pytestmark = pytest.mark.integration


@pytest.fixture
def client(repo: Path) -> Iterator[MLOpsClient]:
    """A client with the default monitoring settings (drift_share 0.5)."""
    c = MLOpsClient.from_project("text", repo_root=repo)
    assert c.settings.monitoring.drift_share == 0.5
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
    assert not any(j["drift_detected"] for j in alike["text_drift"].values())

    longer = client.monitor_predictions(_batch(200, seed=3, sentences=6), latency_ms=40.0)
    assert {"prompt_length", "prompt_words", "prompt_sentences"} <= set(longer["drifted_columns"])
    assert not any(c.startswith("completion_") for c in longer["drifted_columns"])
    # A quarter of all features drifted, under the default half: the prompt column's own
    # descriptors (3 of 5) are what make it dataset drift.
    assert longer["drift_share"] < 0.5
    prompt = longer["text_drift"]["prompt"]
    assert prompt["drift_detected"] is True and prompt["share"] >= 0.4
    assert prompt["descriptors"] == 5 and "prompt_length" in prompt["drifted"]
    assert longer["text_drift"]["completion"]["drift_detected"] is False
    assert longer["drift_detected"] is True
    assert [a["type"] for a in longer["alerts"]] == ["data_drift"]
    assert "text column 'prompt': " in longer["alerts"][0]["message"]
    assert longer["retraining_suggested"] is True
    assert longer["reasons"] == [longer["alerts"][0]["message"]]
    assert longer["mlflow_run_id"] is not None and longer["report_path"].endswith(".html")
    assert client.flush(timeout=30)
    logged = client.mlflow_client.get_run(longer["mlflow_run_id"]).data.metrics
    assert logged["dataset_drift"] == 1.0 and logged["retraining_suggested"] == 1.0


def test_longer_prompts_without_punctuation_drift(client: MLOpsClient) -> None:
    """Prompt fragments five times as long: only length and word count move (2 of 5)."""
    reference = _batch(200, seed=11)
    reference["prompt"] = sample_prompts(200, seed=11, words=4)
    client.set_reference_data(reference)
    fragments = sample_prompts(200, seed=12, words=4)
    longer = _batch(200, seed=12)
    longer["prompt"] = [" ".join(fragments[(i + k) % 200] for k in range(5)) for i in range(200)]
    result = client.monitor_predictions(longer)
    assert result["text_drift"]["prompt"]["drifted"] == ["prompt_length", "prompt_words"]
    assert result["drift_detected"] is True and result["retraining_suggested"] is True


def test_one_drifted_descriptor_is_not_a_drifted_column() -> None:
    """Two of a text column's five descriptors make it drifted; one may fail by chance."""
    from mlops.monitoring.outcome import CheckOutcome, ColumnDrift
    from mlops.monitoring.text import descriptor_names, judge_text_drift

    def outcome(drifted: set[str]) -> CheckOutcome:
        names = descriptor_names("prompt") + descriptor_names("completion")
        columns = {n: ColumnDrift(0.5, "ks", 0.05, n in drifted) for n in names}
        return CheckOutcome(False, len(drifted) / len(names), columns)

    one = outcome({"prompt_length"})
    judged = judge_text_drift(one, ["prompt", "completion"])
    assert one.drift_detected is False and judged["prompt"]["drifted"] == ["prompt_length"]
    two = outcome({"prompt_length", "completion_words", "completion_oov_share"})
    judged = judge_text_drift(two, ["prompt", "completion"])
    assert two.drift_detected is True
    assert [c for c, j in judged.items() if j["drift_detected"]] == ["completion"]
    assert judged["completion"]["share"] == 0.4 and judged["completion"]["descriptors"] == 5


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
