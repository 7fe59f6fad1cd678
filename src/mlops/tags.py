"""MLflow tag names that ``mlops`` writes and reads back (one definition each)."""

from __future__ import annotations

__all__ = ["ADAPTER_DIGEST_TAG", "PENDING_TAG", "PROJECT_TAG", "RUN_TYPE_TAG"]

PROJECT_TAG = "mlops.project"  # on each project's experiment and every run
RUN_TYPE_TAG = "mlops.run_type"  # "monitoring" on the monitoring run; absent on training runs
PENDING_TAG = "mlops.pending_data"  # "true" while a run's metric points wait in the WAL
ADAPTER_DIGEST_TAG = "mlops.adapter_digest"  # on a run that trained or logged a LoRA adapter
