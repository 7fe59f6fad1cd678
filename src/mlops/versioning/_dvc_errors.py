"""Translation of DVC's (and its storage stack's) exceptions into ``mlops`` errors.

Part of the DVC adapter: it imports DVC. Messages are redacted by
:class:`~mlops.errors.MLOpsClientError` itself.
"""

from __future__ import annotations

from dvc.config import ConfigError, NoRemoteError, RemoteNotFoundError
from dvc.exceptions import (
    CheckoutError,
    DownloadError,
    FileTransferError,
    InvalidArgumentError,
    OutputDuplicationError,
    OutputNotFoundError,
    OverlappingOutputPathsError,
    PathMissingError,
    StagePathAsOutputError,
    UploadError,
)
from dvc.lock import LockError
from dvc_objects.fs.errors import AuthError, RemoteMissingDepsError

from mlops.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidInputError,
    Mapper,
    MLOpsClientError,
    NotFoundError,
    OperationTimeoutError,
)

__all__ = ["make_mapper"]

_INPUT = (
    OutputDuplicationError,
    OverlappingOutputPathsError,
    StagePathAsOutputError,
    InvalidArgumentError,
)
_NOT_FOUND = (OutputNotFoundError, PathMissingError)
# Exception class names of the S3 / HTTP stack, matched by name so this module
# does not import botocore for users who only have local remotes.
_TIMEOUT_NAMES = {"ConnectTimeoutError", "ReadTimeoutError", "TimeoutError", "ConnectTimeout"}
_CONNECT_NAMES = {
    "EndpointConnectionError",
    "ConnectionError",
    "ClientConnectorError",
    "HTTPClientError",
    "NoCredentialsError",
}


def make_mapper(remote: str) -> Mapper:
    """A mapper for :func:`mlops.errors.translate_errors` naming ``remote`` in transfer errors."""

    def mapper(exc: BaseException) -> MLOpsClientError | None:
        return _map(exc, remote)

    return mapper


def _map(exc: BaseException, remote: str) -> MLOpsClientError | None:
    for handler in (_map_input, _map_config, _map_transfer, _map_network):
        mapped = handler(exc, remote)
        if mapped is not None:
            return mapped
    return None


def _map_input(exc: BaseException, remote: str) -> MLOpsClientError | None:
    if isinstance(exc, _NOT_FOUND):
        return NotFoundError(
            str(exc), hint="check the path, or `mlops data status` for tracked data"
        )
    if isinstance(exc, _INPUT):
        return InvalidInputError(str(exc), hint="pick a path that no other DVC output overlaps")
    if isinstance(exc, LockError):
        return MLOpsClientError(
            f"the DVC repository is locked by another process: {exc}",
            hint="wait for the other dvc/mlops command to finish, then retry",
        )
    return None


def _map_config(exc: BaseException, remote: str) -> MLOpsClientError | None:
    if isinstance(exc, (NoRemoteError, RemoteNotFoundError)):
        return ConfigurationError(
            f"DVC remote {remote} is not configured: {exc}",
            hint="set [data] remote_url in mlops.toml; `dvc remote list` shows the names DVC knows",
        )
    if isinstance(exc, (ConfigError, RemoteMissingDepsError)):
        return ConfigurationError(f"DVC configuration of remote {remote} is invalid: {exc}")
    return None


def _map_transfer(exc: BaseException, remote: str) -> MLOpsClientError | None:
    if isinstance(exc, UploadError | DownloadError):
        verb = "pushed to" if isinstance(exc, UploadError) else "pulled from"
        return ConnectionFailedError(
            f"{exc.amount} object(s) could not be {verb} remote {remote}",
            details={"failed": exc.amount},
            hint="check the remote is reachable and writable, then run the same command again "
            "(transfers resume: objects already there are skipped)",
        )
    if isinstance(exc, CheckoutError):
        return MLOpsClientError(
            f"checkout after pull failed: {exc}", hint="pass force=True / --force"
        )
    if isinstance(exc, FileTransferError):
        return ConnectionFailedError(f"transfer with remote {remote} failed: {exc}")
    return None


def _map_network(exc: BaseException, remote: str) -> MLOpsClientError | None:
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & _TIMEOUT_NAMES:
        return OperationTimeoutError(f"remote {remote} did not answer in time: {exc}")
    if isinstance(exc, AuthError | PermissionError) or _is_denied(exc):
        return ConnectionFailedError(
            f"remote {remote} refused access: {exc}",
            hint="check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, [data] profile "
            "or `dvc remote modify --local` (never the committed .dvc/config); for a folder, "
            "its permissions",
        )
    # Plain OSError (disk full...) is left to the generic fallback: not a remote problem.
    if names & _CONNECT_NAMES or isinstance(exc, ConnectionError):
        return ConnectionFailedError(f"cannot reach remote {remote}: {exc}")
    return None


def _is_denied(exc: BaseException) -> bool:
    text = str(exc)
    return any(
        word in text
        for word in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch")
    )
