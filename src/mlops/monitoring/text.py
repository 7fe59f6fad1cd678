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

__all__ = [
    "TEXT_COLUMNS",
    "VOCABULARY_FILE",
    "descriptor_frame",
    "is_text_frame",
    "prepare_batch",
    "prepare_reference",
    "save_vocabulary",
]

TEXT_COLUMNS = ("prompt", "completion")
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


def descriptor_frame(frame: pd.DataFrame, vocabulary: set[str]) -> pd.DataFrame:
    """Each text column replaced by its Evidently descriptors; other columns kept."""
    columns = _text_columns(frame)
    texts = frame[columns].fillna("").astype(str).reset_index(drop=True)
    descriptors: list[Any] = []
    for c in columns:
        descriptors += [
            TextLength(c, alias=f"{c}_length"),
            WordCount(c, alias=f"{c}_words"),
            SentenceCount(c, alias=f"{c}_sentences"),
            CustomColumnDescriptor(c, _per_text(_non_letter_share), alias=f"{c}_non_letter_share"),
            CustomColumnDescriptor(c, _per_text(_oov(vocabulary)), alias=f"{c}_oov_share"),
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
