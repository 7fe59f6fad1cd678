"""Pure rules of monitoring: schema checks, sampling, thresholds, results, state."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from mlops.config import MonitoringSettings
from mlops.errors import InvalidInputError, NotFoundError
from mlops.monitoring.outcome import CheckOutcome, ColumnDrift, PerformanceValue
from mlops.monitoring.results import alert_event, build_result, mlflow_metrics
from mlops.monitoring.sampling import STRATEGY, sample_positions
from mlops.monitoring.schema import (
    ReferenceSchema,
    check_batch,
    check_roles,
    column_kind,
    infer_task,
    reject_empty_columns,
)
from mlops.monitoring.state import MonitoringState
from mlops.monitoring.thresholds import Limits, evaluate, mean_latency, performance_limit


def schema(**kw: object) -> ReferenceSchema:
    base: dict[str, object] = {
        "columns": {"a": "float64", "b": "object", "y": "int64", "p": "int64"},
        "features": ["a", "b"],
        "ignored": [],
        "target": "y",
        "prediction": "p",
        "task": "classification",
        "labels": [0, 1],
        "rows": 10,
        "digest": "abc",
    }
    return ReferenceSchema(**{**base, **kw})  # type: ignore[arg-type]


def drift(drifted: bool, score: float = 0.2) -> ColumnDrift:
    return ColumnDrift(
        score=score, method="Wasserstein distance (normed)", threshold=0.1, drifted=drifted
    )


def test_column_kinds() -> None:
    assert [column_kind(t) for t in ("int8", "float32", "uint16", "Int64", "Float64")] == [
        "numerical"
    ] * 5
    assert [column_kind(t) for t in ("object", "string", "category", "bool")] == ["categorical"] * 4
    assert column_kind("datetime64[ns, UTC]") == "datetime"
    assert column_kind("timedelta64[ns]") == "other"


def test_roles_must_exist_and_differ() -> None:
    check_roles(["a", "y"], "y", None, "op")
    with pytest.raises(InvalidInputError, match="target_column 'z'") as err:
        check_roles(["a", "y"], "z", None, "op")
    assert err.value.hint and err.value.component == "monitoring"
    with pytest.raises(InvalidInputError, match="both 'y'"):
        check_roles(["a", "y"], "y", "y", "op")


@pytest.mark.parametrize(
    ("setting", "kind", "distinct", "integral", "task"),
    [
        ("auto", "categorical", 3, False, "classification"),
        ("auto", "numerical", 2, True, "classification"),
        ("auto", "numerical", 500, True, "regression"),
        ("auto", "numerical", 5, False, "regression"),
        ("regression", "numerical", 2, True, "regression"),
        ("auto", None, 0, False, None),
    ],
)
def test_infer_task(
    setting: str, kind: str | None, distinct: int, integral: bool, task: str | None
) -> None:
    assert infer_task(setting, kind, distinct, integral, "op") == task


def test_infer_task_rejects_unknown_setting() -> None:
    with pytest.raises(InvalidInputError, match=r"monitoring\.task"):
        infer_task("clustering", "numerical", 2, True, "op")


def test_check_batch_names_missing_changed_and_empty_columns() -> None:
    ref = schema()
    check_batch(ref, {"a": "float32", "b": "string", "y": "int64", "p": "int64"})
    with pytest.raises(InvalidInputError, match=r"lacks 1 column.*'b'") as err:
        check_batch(ref, {"a": "float64"})
    assert "same feature columns" in str(err.value.hint)
    with pytest.raises(InvalidInputError, match="a: reference float64, now object") as err:
        check_batch(ref, {"a": "object", "b": "object"})
    assert "astype" in str(err.value.hint)
    with pytest.raises(InvalidInputError, match=r"y: reference int64, now object"):
        check_batch(ref, {"a": "float64", "b": "object", "y": "object"})  # roles are checked too
    with pytest.raises(InvalidInputError, match=r"all NaN.*'b'"):
        reject_empty_columns(["b"], "monitor_predictions")


def test_schema_round_trip_and_missing_reference(tmp_path: Path) -> None:
    path = tmp_path / "reference.json"
    with pytest.raises(NotFoundError, match="no reference") as err:
        ReferenceSchema.load(path)
    assert "set-reference" in str(err.value.hint)
    schema().save(path)
    assert ReferenceSchema.load(path) == schema()
    assert schema().kinds()["b"] == "categorical"


def test_sampling_is_seeded_uniform_and_ordered() -> None:
    none, info = sample_positions(100, 200, seed=1)
    assert none is None and info == {"applied": False, "rows_in": 100, "rows_used": 100}
    first, info = sample_positions(1_000_000, 1000, seed=7)
    again, _ = sample_positions(1_000_000, 1000, seed=7)
    other, _ = sample_positions(1_000_000, 1000, seed=8)
    assert first is not None and again is not None and other is not None
    assert (first == again).all() and not (first == other).all()
    assert len(set(first.tolist())) == 1000 and (first[1:] > first[:-1]).all()
    assert 350_000 < first.mean() < 650_000  # spread over the whole range
    assert info == {
        "applied": True,
        "rows_in": 1_000_000,
        "rows_used": 1000,
        "max_rows": 1000,
        "seed": 7,
        "strategy": STRATEGY,
    }


def limits(**kw: float | None) -> Limits:
    return Limits(
        **{"drift_share": 0.5, "performance_drop": 0.1, "latency_ms": None, "memory_mb": None, **kw}
    )  # type: ignore[arg-type]


def test_quiet_outcome_raises_nothing() -> None:
    outcome = CheckOutcome(False, 0.0, {"a": drift(False)}, target_drift=drift(False))
    verdict = evaluate(outcome, limits(latency_ms=100), latency_ms=50, memory_mb=None)
    assert verdict.alerts == [] and not verdict.retraining_suggested and verdict.reasons == []


def test_dataset_drift_alerts_and_suggests_retraining() -> None:
    outcome = CheckOutcome(True, 2 / 3, {"a": drift(True), "b": drift(True), "c": drift(False)})
    verdict = evaluate(outcome, limits(), None, None)
    assert [a["type"] for a in verdict.alerts] == ["data_drift"]
    assert verdict.retraining_suggested and "a, b" in verdict.reasons[0]
    assert (
        verdict.alerts[0]["value"] == pytest.approx(2 / 3) and verdict.alerts[0]["threshold"] == 0.5
    )


def test_performance_drop_is_critical_with_reason() -> None:
    perf = {
        "accuracy": PerformanceValue(0.5, 0.9, passed=False, higher_is_better=True),
        "f1": PerformanceValue(0.88, 0.9, passed=True, higher_is_better=True),
    }
    outcome = CheckOutcome(False, 0.0, {}, performance=perf, prediction_drift=drift(True))
    verdict = evaluate(outcome, limits(), None, None)
    assert [a["type"] for a in verdict.alerts] == ["prediction_drift", "performance_drop"]
    assert verdict.alerts[1]["severity"] == "critical"
    assert verdict.reasons == [
        "accuracy fell from 0.9 (reference) to 0.5, beyond the 10% allowed "
        "(monitoring.performance_drop)"
    ]


def test_latency_and_memory_limits() -> None:
    outcome = CheckOutcome(False, 0.0, {})
    verdict = evaluate(
        outcome, limits(latency_ms=100, memory_mb=512), latency_ms=150, memory_mb=600
    )
    assert [a["type"] for a in verdict.alerts] == ["latency", "memory"]
    assert not verdict.retraining_suggested
    assert "monitoring.latency_ms" in verdict.alerts[0]["message"]
    assert mean_latency([10, 20, 30]) == 20 and mean_latency(5) == 5 and mean_latency(None) is None
    for bad in ([], [-1.0], float("nan")):
        with pytest.raises(InvalidInputError, match="latency_ms"):
            mean_latency(bad)  # type: ignore[arg-type]


def test_limits_are_validated() -> None:
    assert Limits.from_settings(MonitoringSettings()).drift_share == 0.5
    with pytest.raises(InvalidInputError, match="drift_share"):
        Limits.from_settings(MonitoringSettings(drift_share=0))


def test_result_metrics_and_event() -> None:
    outcome = CheckOutcome(
        True,
        0.5,
        {"a b/c": drift(True, 0.3), "d": drift(False, 0.01)},
        target_drift=drift(False, 0.02),
        performance={"rmse": PerformanceValue(2.0, 1.0, False, False)},
        rows=7,
    )
    verdict = evaluate(outcome, limits(), None, None)
    sampled = {
        "current": {"applied": False, "rows_in": 7, "rows_used": 7},
        "reference": {"applied": False},
    }
    result = build_result(
        outcome,
        verdict,
        schema(),
        sampled,
        {
            "project": "p",
            "check": 3,
            "report_path": "/r.html",
            "latency_ms": 12.0,
            "limits": asdict(limits(drift_share=0.3, latency_ms=50.0)),
        },
    )
    assert result["drifted_columns"] == ["a b/c"] and result["sampled"]["applied"] is False
    assert json.loads(json.dumps(result)) == result  # plain Python all the way down
    metrics = mlflow_metrics(result)
    assert metrics["drift/a b_c"] == 0.3 and metrics["dataset_drift"] == 1.0
    assert metrics["perf/rmse"] == 2.0 and metrics["perf/rmse_reference"] == 1.0
    assert metrics["target_drift"] == 0.0 and metrics["latency_ms"] == 12.0
    # The limits this check was judged with travel with it (memory_mb had none).
    assert metrics["drift_share_limit"] == 0.3 and metrics["latency_ms_limit"] == 50.0
    assert metrics["performance_drop_limit"] == 0.1 and "memory_mb_limit" not in metrics
    assert result["performance"]["rmse"]["limit"] == pytest.approx(1.1)  # lower is better
    assert metrics["perf/rmse_limit"] == pytest.approx(1.1)
    event = alert_event(result)
    assert event["check"] == 3 and event["report_path"] == "/r.html"
    assert {a["type"] for a in event["alerts"]} == {"data_drift", "performance_drop"}


@pytest.mark.parametrize("higher_is_better", [True, False])
@pytest.mark.parametrize("reference", [0.9, 2.5, -1.0])
def test_performance_limit_is_the_boundary_evidently_tests_against(
    reference: float, higher_is_better: bool
) -> None:
    from evidently.legacy.utils.types import ApproxValue

    limit = performance_limit(reference, higher_is_better, 0.1)
    assert limit is not None
    threshold = ApproxValue(reference, relative=0.1)  # what Reference(relative=0.1) becomes
    inside, outside = (
        (limit + 1e-6, limit - 1e-6) if higher_is_better else (limit - 1e-6, limit + 1e-6)
    )
    passes = (lambda v: v >= threshold) if higher_is_better else (lambda v: v <= threshold)
    assert passes(inside) and not passes(outside)
    assert performance_limit(None, higher_is_better, 0.1) is None


def test_state_counts_checks(tmp_path: Path) -> None:
    state = MonitoringState(tmp_path)
    assert state.read() == {}
    for _ in range(3):
        with state.update() as data:
            data["checks"] = data.get("checks", 0) + 1
    assert state.read() == {"checks": 3}
    with pytest.raises(RuntimeError), state.update() as data:
        data["checks"] = 99
        raise RuntimeError("not written")
    assert state.read() == {"checks": 3}


def exported_snapshot() -> dict[str, object]:
    """The shape of Evidently 0.7's ``snapshot.dict()`` (ids shortened)."""

    def drift_metric(mid: str, column: str, score: float) -> dict[str, object]:
        config = {
            "type": "evidently:metric_v2:ValueDrift",
            "column": column,
            "method": "Jensen-Shannon distance",
            "threshold": 0.1,
        }
        return {"id": mid, "config": config, "value": score}

    def test(mid: str, status: str) -> dict[str, object]:
        return {"id": "t", "metric_config": {"metric_id": mid}, "status": status}

    metrics = [
        {
            "id": "m0",
            "config": {"type": "evidently:metric_v2:DriftedColumnsCount"},
            "value": {"count": 1.0, "share": 0.5},
        },
        drift_metric("m1", "a", 0.3),
        drift_metric("m2", "b", 0.01),
        drift_metric("m3", "y", 0.2),
        drift_metric("m4", "p", 0.02),
        {
            "id": "m5",
            "config": {"type": "evidently:metric_v2:MAE"},
            "value": {"mean": 2.5, "std": 1},
        },
    ]
    tests = [
        test("m0", "FAIL"),
        test("m1", "FAIL"),
        test("m2", "ERROR"),
        test("m3", "FAIL"),
        test("m4", "SUCCESS"),
        test("m5", "SUCCESS"),
        test("m5", "FAIL"),
    ]
    return {"metrics": metrics, "tests": tests}


def test_read_outcome_takes_verdicts_from_test_statuses() -> None:
    from mlops.monitoring.reader import read_outcome

    ref = schema(task="regression", features=["a", "b"])
    outcome = read_outcome(
        exported_snapshot(),
        ref,
        ["y", "p"],
        {"MAE": ("mae", False)},
        {"m5": 1.0}.get,
    )
    assert outcome.drift_detected and outcome.drift_share == 0.5
    assert outcome.drifted_columns == ["a"]  # b's test errored: not drifted, and said so
    assert outcome.skipped == ["drift test of 'b' ended ERROR"]
    assert outcome.target_drift == ColumnDrift(0.2, "Jensen-Shannon distance", 0.1, True)
    assert outcome.prediction_drift is not None and not outcome.prediction_drift.drifted
    # one failed test of several fails the metric
    assert outcome.performance == {"mae": PerformanceValue(2.5, 1.0, False, False)}
    no_perf = read_outcome(exported_snapshot(), ref, ["y"], {"MAE": ("mae", False)}, lambda m: None)
    assert no_perf.performance == {} and no_perf.task is None


def test_role_names_map_renamed_roles_and_note_skipped_ones() -> None:
    from mlops.monitoring.schema import role_names

    assert role_names(["a", "y", "p"], schema(), None, None) == ({"y": "y", "p": "p"}, [])
    names, skipped = role_names(["a", "label", "p"], schema(), "label", None)
    assert names == {"y": "label", "p": "p"} and skipped == []
    names, skipped = role_names(["a", "p"], schema(), None, None)
    assert names == {"p": "p"}
    assert skipped == ["target drift and performance: the data has no target column 'y'"]
    names, skipped = role_names(["a", "t"], schema(target=None, prediction=None), "t", None)
    assert names == {} and "the reference has no target column" in skipped[0]


def test_labels_sort_naturally_and_digest_is_stable(tmp_path: Path) -> None:
    from mlops.monitoring.schema import file_digest, sorted_labels

    assert sorted_labels([10, 2, 1]) == [1, 2, 10]
    assert sorted_labels(["yes", "no"]) == ["no", "yes"]
    assert sorted_labels([1, "a"]) == [1, "a"]
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 3_000_000)
    assert file_digest(path) == file_digest(path) and len(file_digest(path)) == 16
