"""Monitoring text generation: prompt/completion frames become Evidently text descriptors.

A frame with a ``prompt`` column of strings (and optionally ``completion``) is a
*text frame*. ``set_reference_data`` and ``monitor_predictions`` turn each text
column into numeric descriptors computed by Evidently, none of which needs a
download, and watch those for drift like any feature:

==========================  ================================================================
column                      descriptor
==========================  ================================================================
``<col>_length``            ``TextLength``: characters
``<col>_words``             ``WordCount``: words
``<col>_sentences``         ``SentenceCount``: sentences
``<col>_non_letter_share``  % of characters neither a letter nor a space (Evidently's
                            ``NonLetterCharacterPercentage`` rule, as a ``CustomColumnDescriptor``
                            that also takes empty completions)
``<col>_oov_share``         % of words the reference never used (a ``CustomColumnDescriptor``
                            over the reference's vocabulary: Evidently's own OOV descriptor
                            downloads NLTK's English word list)
==========================  ================================================================

Other columns stay as they are: per-request served figures such as
``latency_ms`` and ``tokens_per_second`` (``server.generate`` returns them) are
watched for drift next to the descriptors. The reference's vocabulary is
stored next to it (``text_vocabulary.json``), which marks the reference as text.

**Dataset drift of text.** A text column's descriptors are several views of one
input, so each text column is also judged as a whole (:func:`judge_text_drift`):
when at least :data:`TEXT_COLUMN_DRIFT_SHARE` of its descriptors (two of five)
drifted by Evidently's tests, the column has drifted, and so has the dataset, even
when all features together drifted by less than ``monitoring.drift_share``. Much
longer prompts move their length and word count (and their sentence count when
they have punctuation): two to three descriptors of twelve features, which the
tabular default (half of the features) would not report. One descriptor alone is
not enough: on small batches a single descriptor's test fails by chance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd
from evidently import DataDefinition, Dataset
from evidently.core.datasets import DatasetColumn
from evidently.descriptors import CustomColumnDescriptor, SentenceCount, TextLength, WordCount
from evidently.legacy.core import ColumnType

from mlops.errors import InvalidInputError, translate_errors
from mlops.monitoring.outcome import CheckOutcome
from mlops.monitoring.thresholds import Verdict

__all__ = [
    "DESCRIPTORS",
    "TEXT_COLUMNS",
    "TEXT_COLUMN_DRIFT_SHARE",
    "VOCABULARY_FILE",
    "descriptor_frame",
    "descriptor_names",
    "explain_text_drift",
    "is_text_frame",
    "judge_text_drift",
    "prepare_batch",
    "prepare_reference",
    "save_vocabulary",
    "stored_text_columns",
]

TEXT_COLUMNS = ("prompt", "completion")
#: The descriptors of each text column, in their order: feature ``<column>_<descriptor>``.
DESCRIPTORS = ("length", "words", "sentences", "non_letter_share", "oov_share")
#: A text column has drifted when this share of its descriptors drifted (2 of 5).
TEXT_COLUMN_DRIFT_SHARE = 0.4
VOCABULARY_FILE = "text_vocabulary.json"
_WORD = re.compile(r"[a-z0-9']+")


def is_text_frame(frame: pd.DataFrame) -> bool:
    """True when ``frame`` has a ``prompt`` column of strings."""
    if "prompt" not in frame.columns:
        return False
    values = frame["prompt"].dropna()
    return len(values) > 0 and all(isinstance(v, str) for v in values.head(100))


def words(text: Any) -> list[str]:
    """Lower-case words (letters, digits, apostrophes) of ``text``."""
    return _WORD.findall(text.lower()) if isinstance(text, str) else []


def prepare_reference(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """A text reference as descriptors, with the vocabulary to store (None: not text)."""
    if not is_text_frame(frame):
        return frame, None
    columns = _text_columns(frame)
    vocabulary = sorted({w for c in columns for t in frame[c] for w in words(t)})
    text = {"columns": columns, "words": vocabulary}
    return descriptor_frame(frame, set(vocabulary)), text


def save_vocabulary(folder: Path, text: dict[str, Any] | None) -> None:
    """Store the reference's text vocabulary, or remove a stale one (the reference is tabular)."""
    path = folder / VOCABULARY_FILE
    if text is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(text))
    tmp.replace(path)


def prepare_batch(frame: pd.DataFrame, folder: Path) -> pd.DataFrame:
    """A batch as descriptors when the reference is text; rejects a mismatch of the two kinds."""
    path = folder / VOCABULARY_FILE
    text_batch = is_text_frame(frame)
    if not path.is_file():
        if text_batch:
            raise _mismatch("the batch has prompts but the reference is tabular")
        return frame
    if not text_batch:
        raise _mismatch("the reference holds prompts but the batch has no 'prompt' column of text")
    stored = json.loads(path.read_text())
    missing = [c for c in stored["columns"] if c not in frame.columns]
    if missing:
        raise _mismatch(f"the batch lacks the reference's text column(s) {missing}")
    return descriptor_frame(frame, set(stored["words"]))


def _mismatch(message: str) -> InvalidInputError:
    return InvalidInputError(
        message,
        component="monitoring",
        operation="monitor_predictions",
        hint="send a frame like the reference (prompt/completion text, or the tabular features), "
        "or set a new reference",
    )


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in TEXT_COLUMNS if c in frame.columns]


def descriptor_names(column: str) -> list[str]:
    """The feature names of ``column``'s descriptors (``prompt_length``, ``prompt_words``...)."""
    return [f"{column}_{d}" for d in DESCRIPTORS]


def stored_text_columns(folder: Path) -> list[str]:
    """The text columns of the stored reference; empty when the reference is tabular."""
    path = folder / VOCABULARY_FILE
    if not path.is_file():
        return []
    return [str(c) for c in json.loads(path.read_text())["columns"]]


def judge_text_drift(
    outcome: CheckOutcome, columns: list[str], share: float = TEXT_COLUMN_DRIFT_SHARE
) -> dict[str, dict[str, Any]]:
    """Judge each text column on its descriptors; a drifted column makes the dataset drift.

    Args:
        outcome: The check's outcome: each descriptor's ``drifted`` is the status of
            Evidently's drift test for it. ``drift_detected`` is set when a column drifted.
        columns: The reference's text columns (``prompt``, ``completion``).
        share: The share of a column's descriptors that makes the column drifted.

    Returns:
        Per text column: ``drifted`` (its drifted descriptors), ``descriptors`` (how
        many were checked), their ``share`` that drifted, ``drift_detected`` (the
        share reached ``share``).
    """
    judged: dict[str, dict[str, Any]] = {}
    for column in columns:
        names = [n for n in descriptor_names(column) if n in outcome.column_drift]
        drifted = [n for n in names if outcome.column_drift[n].drifted]
        column_share = len(drifted) / len(names) if names else 0.0
        detected = bool(names) and column_share >= share
        judged[column] = {
            "drifted": drifted,
            "descriptors": len(names),
            "share": column_share,
            "drift_detected": detected,
        }
        outcome.drift_detected = outcome.drift_detected or detected
    return judged


def explain_text_drift(
    verdict: Verdict, judged: dict[str, dict[str, Any]], share: float = TEXT_COLUMN_DRIFT_SHARE
) -> None:
    """Name the drifted text columns in the data-drift alert and its retraining reason."""
    parts = [
        f"text column {column!r}: {len(j['drifted'])} of {j['descriptors']} descriptors drifted "
        f"(share {j['share']:.2f}, limit {share} per text column)"
        for column, j in judged.items()
        if j["drift_detected"]
    ]
    if not parts:
        return
    for alert in verdict.alerts:
        if alert["type"] == "data_drift":
            old = alert["message"]
            alert["message"] = f"{old}; {'; '.join(parts)}"
            verdict.reasons = [alert["message"] if r == old else r for r in verdict.reasons]


def descriptor_frame(frame: pd.DataFrame, vocabulary: set[str]) -> pd.DataFrame:
    """Each text column replaced by its Evidently descriptors; other columns kept."""
    columns = _text_columns(frame)
    texts = frame[columns].fillna("").astype(str).reset_index(drop=True)
    descriptors: list[Any] = []
    for c in columns:
        length, count, sentences, non_letter, oov = descriptor_names(c)
        descriptors += [
            TextLength(c, alias=length),
            WordCount(c, alias=count),
            SentenceCount(c, alias=sentences),
            CustomColumnDescriptor(c, _per_text(_non_letter_share), alias=non_letter),
            CustomColumnDescriptor(c, _per_text(_oov(vocabulary)), alias=oov),
        ]
    names = [d.alias for d in descriptors]
    with translate_errors("monitoring", "text_descriptors", hint="pass prompts as strings"):
        dataset = Dataset.from_pandas(
            texts, data_definition=DataDefinition(text_columns=columns), descriptors=descriptors
        )
        described = dataset.as_dataframe()[names].astype(float)
    rest = frame.drop(columns=columns).reset_index(drop=True)
    return pd.concat([described, rest], axis=1)


def _per_text(measure: Any) -> Any:
    """An Evidently column function applying ``measure(text) -> float`` to every text."""

    def describe(column: DatasetColumn) -> DatasetColumn:
        return DatasetColumn(type=ColumnType.Numerical, data=column.data.map(measure))

    describe.__name__ = getattr(measure, "__name__", "describe")
    return describe


def _non_letter_share(text: str) -> float:
    """% of characters that are neither letters nor spaces (0 for an empty text)."""
    if not text:
        return 0.0
    return 100.0 * sum(not ch.isalpha() and ch != " " for ch in text) / len(text)


def _oov(vocabulary: set[str]) -> Any:
    def oov_share(text: str) -> float:
        found = words(text)
        return 100.0 * sum(w not in vocabulary for w in found) / len(found) if found else 0.0

    return oov_share
