"""MLflow adapter: runs, params, metrics, artifacts, models and the registry.

Only :mod:`mlops.tracking.mlflow_tracker` and :mod:`mlops.tracking.server`
import MLflow; :mod:`mlops.tracking.validation` is pure Python.
"""
