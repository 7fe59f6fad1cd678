"""Translation of DVC's (and its storage stack's) exceptions into ``mlops`` errors.

Part of the DVC adapter: it imports DVC. Messages are redacted by
:class:`~mlops.errors.MLOpsClientError` itself.
"""

from __future__ import annotations

from collections.abc import Mapping

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
    ErrorMap,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    OperationTimeoutError,
)
from mlops.invocation import mlops_command

__all__ = ["DVC_ERRORS"]

Context = Mapping[str, str]


def _not_found(exc: BaseException, _: Context) -> MLOpsClientError:
    return NotFoundError(
        str(exc), hint=f"check the path, or `{mlops_command('data', 'status')}` for tracked data"
    )


def _bad_input(exc: BaseException, _: Context) -> MLOpsClientError:
    return InvalidInputError(str(exc), hint="pick a path that no other DVC output overlaps")


def _locked(exc: BaseException, _: Context) -> MLOpsClientError:
    return MLOpsClientError(
        f"the DVC repository is locked by another process: {exc}",
        hint="wait for the other dvc/mlops command to finish, then retry",
    )


def _no_remote(exc: BaseException, ctx: Context) -> MLOpsClientError:
    return ConfigurationError(
        f"DVC remote {ctx.get('remote')} is not configured: {exc}",
        hint="set [data] remote_url in mlops.toml; `dvc remote list` shows the names DVC knows",
    )


def _bad_config(exc: BaseException, ctx: Context) -> MLOpsClientError:
    return ConfigurationError(
        f"DVC configuration of remote {ctx.get('remote')} is invalid: {exc}",
        hint="fix or remove the entry in .dvc/config (`dvc remote list`), then retry",
    )


def _transfer(exc: UploadError | DownloadError, ctx: Context) -> MLOpsClientError:
    verb = "pushed to" if isinstance(exc, UploadError) else "pulled from"
    return ConnectionFailedError(
        f"{exc.amount} object(s) could not be {verb} remote {ctx.get('remote')}",
        details={"failed": exc.amount},
        hint="check the remote is reachable and writable, then run the same command again "
        "(transfers resume: objects already there are skipped)",
    )


def _checkout(exc: BaseException, _: Context) -> MLOpsClientError:
    return MLOpsClientError(f"checkout after pull failed: {exc}", hint="pass force=True / --force")


def _file_transfer(exc: BaseException, ctx: Context) -> MLOpsClientError:
    return ConnectionFailedError(f"transfer with remote {ctx.get('remote')} failed: {exc}")


def _timeout(exc: BaseException, ctx: Context) -> MLOpsClientError:
    return OperationTimeoutError(f"remote {ctx.get('remote')} did not answer in time: {exc}")


def _denied(exc: BaseException, ctx: Context) -> MLOpsClientError:
    return ConnectionFailedError(
        f"remote {ctx.get('remote')} refused access: {exc}",
        hint="check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, [data] profile "
        "or `dvc remote modify --local` (never the committed .dvc/config); for a folder, "
        "its permissions",
    )


def _client_error(exc: BaseException, ctx: Context) -> MLOpsClientError | None:
    # botocore's ClientError carries the S3 answer; a refusal is an access problem.
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
        return _denied(exc, ctx)
    return None


def _unreachable(exc: BaseException, ctx: Context) -> MLOpsClientError:
    return ConnectionFailedError(f"cannot reach remote {ctx.get('remote')}: {exc}")


# Types of the S3 / HTTP stack are named "module:Class": they are looked up only once
# their library is loaded, so users with local remotes never import botocore.
DVC_ERRORS = ErrorMap(
    ((OutputNotFoundError, PathMissingError), _not_found),
    (
        (
            OutputDuplicationError,
            OverlappingOutputPathsError,
            StagePathAsOutputError,
            InvalidArgumentError,
        ),
        _bad_input,
    ),
    (LockError, _locked),
    ((NoRemoteError, RemoteNotFoundError), _no_remote),
    ((ConfigError, RemoteMissingDepsError), _bad_config),
    ((UploadError, DownloadError), _transfer),
    (CheckoutError, _checkout),
    (FileTransferError, _file_transfer),
    (
        (
            "botocore.exceptions:ConnectTimeoutError",
            "botocore.exceptions:ReadTimeoutError",
            "aiohttp.client_exceptions:ServerTimeoutError",
            "requests.exceptions:Timeout",
            TimeoutError,
        ),
        _timeout,
    ),
    ((AuthError, PermissionError, "botocore.exceptions:NoCredentialsError"), _denied),
    ("botocore.exceptions:ClientError", _client_error),
    # A plain OSError (disk full...) is left to the generic fallback: not a remote problem.
    (
        (
            "botocore.exceptions:EndpointConnectionError",
            "botocore.exceptions:ConnectionError",
            "botocore.exceptions:HTTPClientError",
            "aiohttp.client_exceptions:ClientConnectorError",
            "requests.exceptions:ConnectionError",
            ConnectionError,
        ),
        _unreachable,
    ),
)
