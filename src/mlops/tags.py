"""MLflow tag names that ``mlops`` writes and reads back (one definition each)."""

from __future__ import annotations

__all__ = [
    "ADAPTER_DIGEST_TAG",
    "LOCAL_RUN_TAG",
    "PROJECT_TAG",
    "RUN_TYPE_TAG",
    "SAVED_MODEL_TAG",
]

PROJECT_TAG = "mlops.project"  # on each project's experiment and every run
RUN_TYPE_TAG = "mlops.run_type"  # "monitoring" on the monitoring run; absent on training runs
LOCAL_RUN_TAG = "mlops.local_run_id"  # on a run created offline: the id it had locally
ADAPTER_DIGEST_TAG = "mlops.adapter_digest"  # on a run that trained or logged a LoRA adapter
SAVED_MODEL_TAG = "mlops.saved_model_event"  # on a model logged at sync: its log event, for retries
