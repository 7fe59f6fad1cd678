"""MLflow adapter: runs, params, metrics, artifacts, models and the registry.

The adapter is private: :mod:`._mlflow` (:class:`MLflowTracker`) with its
parts :mod:`._models`, :mod:`._reads`, :mod:`._records` and its one error map
:mod:`._errors` — the only modules that import MLflow. :mod:`.validation` and
:mod:`._http` are pure Python; :mod:`.server` starts ``mlflow server`` as a process.
"""
