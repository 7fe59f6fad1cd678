"""DVC's exceptions become mlops errors in one place, naming the remote, secrets redacted."""

from __future__ import annotations

import pytest
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
from dvc.config import ConfigError, NoRemoteError
from dvc.exceptions import (
    CheckoutError,
    DownloadError,
    OutputDuplicationError,
    OverlappingOutputPathsError,
    PathMissingError,
    UploadError,
)
from dvc.lock import LockError

from mlops.errors import (
    ConfigurationError,
    ConnectionFailedError,
    InvalidInputError,
    MLOpsClientError,
    NotFoundError,
    OperationTimeoutError,
    translate_errors,
)
from mlops.versioning._dvc_errors import DVC_ERRORS

REMOTE = "'mlops-p' (s3://b/p via http://bob:pw@minio:9000)"


class _Stage:
    """The two attributes DVC's OutputDuplicationError reads from its stages."""

    def __init__(self, name: str) -> None:
        self.relpath = self.addressing = name


def _translate(exc: BaseException) -> MLOpsClientError:
    with (
        pytest.raises(MLOpsClientError) as info,
        translate_errors("versioning", "dvc_push", mapper=DVC_ERRORS.bound(remote=REMOTE)),
    ):
        raise exc
    assert info.value.__cause__ is exc
    assert (info.value.component, info.value.operation) == ("versioning", "dvc_push")
    assert "pw@" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (UploadError(3), ConnectionFailedError),
        (DownloadError(2), ConnectionFailedError),
        (NoRemoteError("no remote"), ConfigurationError),
        (ConfigError("bad key"), ConfigurationError),
        (PathMissingError("x", "repo"), NotFoundError),
        (OutputDuplicationError("out", {_Stage("a.dvc"), _Stage("b.dvc")}), InvalidInputError),
        (OverlappingOutputPathsError("p", "o", "overlap"), InvalidInputError),
        (CheckoutError(["x"], {}), MLOpsClientError),
        (LockError("locked"), MLOpsClientError),
        (PermissionError("403 Forbidden"), ConnectionFailedError),
        (ConnectTimeoutError(endpoint_url="http://minio:9000"), OperationTimeoutError),
        (EndpointConnectionError(endpoint_url="http://minio:9000"), ConnectionFailedError),
        (ConnectionRefusedError("refused"), ConnectionFailedError),
    ],
)
def test_dvc_exceptions_map_to_mlops_errors(exc: BaseException, expected: type) -> None:
    err = _translate(exc)
    assert type(err) is expected


def test_transfer_errors_name_the_remote_and_say_a_retry_resumes() -> None:
    err = _translate(UploadError(3))
    assert "mlops-p" in str(err) and "minio:9000" in str(err)
    assert "again" in (err.hint or "")


def test_unknown_errors_still_leave_as_mlops_errors() -> None:
    err = _translate(RuntimeError("boom"))
    assert type(err) is MLOpsClientError and "boom" in str(err)
