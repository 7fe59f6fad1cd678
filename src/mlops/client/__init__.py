"""The facade: ``from mlops.client import MLOpsClient, create_client, MLOpsClientError``."""

from mlops.client.core import MLOpsClient, create_client
from mlops.errors import (
    ComponentUnavailableError,
    ConfigurationError,
    ConnectionFailedError,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    OperationTimeoutError,
)

__all__ = [
    "ComponentUnavailableError",
    "ConfigurationError",
    "ConnectionFailedError",
    "InvalidInputError",
    "MLOpsClient",
    "MLOpsClientError",
    "NotFoundError",
    "OperationTimeoutError",
    "create_client",
]
