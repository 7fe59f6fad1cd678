"""What the command line prints besides its own output: quiet by default, chatty on request.

By default only ``mlops``' own progress, results, warnings and errors reach the
terminal; the tools' INFO/WARNING lines (MLflow's table creation, pip-version
warnings, BentoML and DVC chatter) and Python warnings appear with ``--verbose``.
Tool *errors* are still shown. Environment variables set here reach the
servers ``mlops`` starts (BentoML, MLflow), so they are quiet too.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings

__all__ = ["THIRD_PARTY_LOGGERS", "configure_output"]

#: Loggers of the tools ``mlops`` drives, silenced below ERROR unless ``--verbose``.
THIRD_PARTY_LOGGERS = (
    "mlflow",
    "alembic",
    "sqlalchemy",
    "bentoml",
    "dvc",
    "dvc_objects",
    "dvc_data",
    "evidently",
    "urllib3",
    "botocore",
    "boto3",
    "s3fs",
    "aiobotocore",
    "httpx",
    "uvicorn",
    "huey",
    "git",
    "mlx_lm",
    "transformers",
    "huggingface_hub",
)


def configure_output(verbose: bool) -> None:
    """Set logging for one CLI invocation (call before any tool is imported)."""
    if verbose:
        # Our INFO lines and the tools' own, on stderr.
        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        return
    # Our warnings and errors reach stderr through logging's last-resort handler.
    # MLflow sets its loggers' level from this variable when it is imported.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "ERROR")
    os.environ.setdefault("BENTOML_QUIET", "true")
    os.environ.setdefault("PYTHONWARNINGS", "ignore")  # servers started from here
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
