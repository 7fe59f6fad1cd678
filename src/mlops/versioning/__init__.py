"""Data versioning on DVC, linked to the MLflow runs that used the data.

Only the private adapter :mod:`mlops.versioning._dvc` (and its error map) import DVC;
:mod:`mlops.versioning.remote` and :mod:`mlops.versioning.lineage` are pure
helpers that import nothing heavy, so they load in microseconds.
"""

__all__: list[str] = []
