"""The reference's schema and column roles, and the checks of a batch against it.

Pure Python: the adapter extracts dtype names and a few facts from the frames
and hands them here, so these rules are testable without pandas or Evidently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops.errors import InvalidInputError, NotFoundError
from mlops.invocation import mlops_command

__all__ = [
    "TASKS",
    "ReferenceSchema",
    "check_batch",
    "check_roles",
    "column_kind",
    "file_digest",
    "infer_task",
    "reject_empty_columns",
    "role_names",
    "sorted_labels",
]

TASKS = ("auto", "classification", "regression")
# A numeric target with at most this many distinct integral values is a label.
MAX_CLASSES = 20
COMPONENT = "monitoring"


def column_kind(dtype: str) -> str:
    """Map a pandas dtype name to ``numerical``, ``categorical``, ``datetime`` or ``other``.

    Example:
        >>> column_kind("int64"), column_kind("object"), column_kind("datetime64[ns]")
        ('numerical', 'categorical', 'datetime')
    """
    name = dtype.lower()
    if name.startswith(("int", "uint", "float")):
        return "numerical"
    if name in ("object", "string", "str", "category", "bool", "boolean") or name.startswith(
        "string"
    ):
        return "categorical"
    if name.startswith("datetime"):
        return "datetime"
    return "other"


@dataclass
class ReferenceSchema:
    """What ``set_reference_data`` stored next to the reference Parquet file.

    Attributes:
        columns: Column name -> pandas dtype name, in the reference's order.
        features: Columns checked for drift (numerical and categorical, not the roles).
        ignored: Columns left out of drift (datetimes and other kinds).
        target: Name of the target column, if any.
        prediction: Name of the prediction column, if any.
        task: ``classification``, ``regression`` or None (drift only).
        labels: Class labels seen in the reference (classification only).
        rows: Rows stored.
        digest: Content hash of the stored reference (lineage on every report).
        created_at: ISO-8601 UTC time it was set.
        sampled: How the reference was sampled when stored (see ``sampling``).
    """

    columns: dict[str, str]
    features: list[str]
    ignored: list[str]
    target: str | None
    prediction: str | None
    task: str | None
    labels: list[Any] | None
    rows: int
    digest: str = ""
    created_at: str = ""
    sampled: dict[str, Any] = field(default_factory=dict)

    def kinds(self) -> dict[str, str]:
        """Column name -> kind (see :func:`column_kind`)."""
        return {name: column_kind(dtype) for name, dtype in self.columns.items()}

    def save(self, path: Path) -> None:
        """Write the schema as JSON (atomically: a reader never sees half a file)."""
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ReferenceSchema:
        """Read a schema written by :meth:`save`; a missing file means no reference."""
        if not path.is_file():
            raise NotFoundError(
                "no reference data is set for this project",
                component=COMPONENT,
                operation="monitor_predictions",
                hint="call client.set_reference_data(df) or run "
                f"`{mlops_command('monitor', 'set-reference', 'FILE')}`",
            )
        return cls(**json.loads(path.read_text()))


def check_roles(
    columns: Sequence[str], target: str | None, prediction: str | None, operation: str
) -> None:
    """Reject a target or prediction column the frame does not have, or one used twice."""
    for role, name in (("target_column", target), ("prediction_column", prediction)):
        if name is not None and name not in columns:
            raise InvalidInputError(
                f"{role} {name!r} is not a column of the data (columns: {_short(columns)})",
                component=COMPONENT,
                operation=operation,
                hint=f"pass the name of an existing column as {role}, or None",
            )
    if target is not None and target == prediction:
        raise InvalidInputError(
            f"target_column and prediction_column are both {target!r}",
            component=COMPONENT,
            operation=operation,
            hint="the prediction must be a column of its own",
        )


def infer_task(
    setting: str, target_kind: str | None, distinct: int, integral: bool, operation: str
) -> str | None:
    """Pick the task: the ``monitoring.task`` setting unless it is ``auto``.

    ``auto``: a categorical target, or a numerical one with at most
    ``MAX_CLASSES`` distinct integral values, is classification; any other
    numerical target is regression; no target means drift only (None).
    """
    if setting not in TASKS:
        raise InvalidInputError(
            f"monitoring.task is {setting!r}",
            component=COMPONENT,
            operation=operation,
            hint="set monitoring.task to auto, classification or regression",
        )
    if target_kind is None:
        return None
    if setting != "auto":
        return setting
    if target_kind == "categorical" or (integral and distinct <= MAX_CLASSES):
        return "classification"
    if target_kind == "numerical":
        return "regression"
    raise InvalidInputError(
        f"cannot infer the task from a {target_kind} target",
        component=COMPONENT,
        operation=operation,
        hint="set monitoring.task to classification or regression",
    )


def check_batch(schema: ReferenceSchema, dtypes: Mapping[str, str]) -> None:
    """Reject a batch that lacks reference feature columns or changes a column's kind.

    Kinds, not exact dtypes, must match (int64 -> float32 is fine, float64 ->
    object is not). All-NaN columns are checked after sampling, with
    :func:`reject_empty_columns`.

    Args:
        schema: The stored reference schema.
        dtypes: The batch's column name -> dtype name (roles under the reference's names).
    """
    needed = [*schema.features, *[c for c in (schema.target, schema.prediction) if c]]
    missing = [c for c in schema.features if c not in dtypes]
    if missing:
        raise InvalidInputError(
            f"the data lacks {len(missing)} column(s) of the reference: {_short(missing)}",
            component=COMPONENT,
            operation="monitor_predictions",
            hint="send the same feature columns as the reference, or set a new reference",
        )
    changed = {
        c: (schema.columns[c], dtypes[c])
        for c in needed
        if c in dtypes and column_kind(dtypes[c]) != column_kind(schema.columns[c])
    }
    if changed:
        text = ", ".join(f"{c}: reference {a}, now {b}" for c, a, b in _triples(changed))
        raise InvalidInputError(
            f"column types differ from the reference ({text})",
            component=COMPONENT,
            operation="monitor_predictions",
            hint="cast them back, e.g. df.astype({...}), or set a new reference",
        )


def reject_empty_columns(columns: Sequence[str], operation: str) -> None:
    """Raise naming the columns whose values are all missing (if any)."""
    if columns:
        raise InvalidInputError(
            f"column(s) with no values (all NaN/None): {_short(columns)}",
            component=COMPONENT,
            operation=operation,
            hint="drop or fill these columns before monitoring",
        )


def _triples(changed: Mapping[str, tuple[str, str]]) -> list[tuple[str, str, str]]:
    return [(c, a, b) for c, (a, b) in changed.items()]


def _short(names: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def role_names(
    columns: Sequence[str], schema: ReferenceSchema, target: str | None, prediction: str | None
) -> tuple[dict[str, str], list[str]]:
    """Map each reference role to the batch's column for it; note the roles that are skipped.

    A role is checked when the reference has it and the batch has the column
    given (``target``/``prediction``) or, by default, the reference's name.

    Returns:
        ``{reference name: batch column}`` and one note per skipped role.
    """
    names: dict[str, str] = {}
    skipped: list[str] = []
    for role, given, stored in (
        ("target", target, schema.target),
        ("prediction", prediction, schema.prediction),
    ):
        if stored is None:
            if given is not None:
                skipped.append(f"{role} drift and performance: the reference has no {role} column")
            continue
        name = given or stored
        if name in columns:
            names[stored] = name
        else:
            skipped.append(f"{role} drift and performance: the data has no {role} column {name!r}")
    return names, skipped


def sorted_labels(labels: Iterable[Any]) -> list[Any]:
    """Labels in natural order (numbers by value); mixed types fall back to text order."""
    items = list(labels)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=str)


def file_digest(path: Path) -> str:
    """First 16 hex digits of the file's SHA-256: the reference's identity in lineage."""
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()[:16]
