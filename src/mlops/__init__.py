"""mlops: one client per ML project for its whole lifecycle.

Example:
    >>> from mlops import MLOpsClient
    >>> client = MLOpsClient.from_project("lora-finetuning-mlx")  # doctest: +SKIP
    >>> with client.start_run(run_name="train"):                   # doctest: +SKIP
    ...     client.log_metrics({"loss": 0.5}, step=0)

Names are loaded lazily so that ``import mlops`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["MLOpsClient", "MLOpsClientError", "__version__", "create_client"]

if TYPE_CHECKING:
    from mlops.client import MLOpsClient, create_client
    from mlops.errors import MLOpsClientError


def __getattr__(name: str) -> Any:
    if name in ("MLOpsClient", "create_client"):
        from mlops import client

        return getattr(client, name)
    if name == "MLOpsClientError":
        from mlops.errors import MLOpsClientError

        return MLOpsClientError
    raise AttributeError(f"module 'mlops' has no attribute {name!r}")
