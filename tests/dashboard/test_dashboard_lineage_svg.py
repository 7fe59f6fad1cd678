"""The lineage picture: well-formed SVG, every part drawn, text escaped, gaps shown."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mlops.dashboard.lineage_svg import lineage_svg

NS = "{http://www.w3.org/2000/svg}"
CHAIN = {
    "model": {"name": "iris", "version": "3", "source": "models:/m-abc", "run_id": "r" * 32},
    "data": [
        {"path": "data/train.csv", "md5": "0123456789abcdef0123", "size": 120, "nfiles": 1},
        {"path": "data/test.csv", "md5": "fedcba9876543210fedc", "rev": "a1b2c3d4e5f6"},
    ],
    "run": {
        "run_id": "r" * 32,
        "params": {"lr": "0.1", "epochs": "5"},
        "metrics": {"loss": 0.123456, "system/cpu_utilization_percentage": 90.0},
    },
    "bentos": [{"tag": "iris:v1", "path": "/b", "labels": {"run_id": "r" * 32}}],
    "monitoring": {
        "latest": {
            "check": 4,
            "drift_share": 0.75,
            "alerts": [{"type": "data_drift"}],
            "timestamp": 1795715355774,
        },
        "reference": {"digest": "d1g3st", "rows": 500},
    },
}


def _texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return [t.text or "" for t in root.iter(f"{NS}text")]


def test_full_chain_draws_every_part_joined_by_arrows() -> None:
    svg = lineage_svg(CHAIN)
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    nodes = [g for g in root.iter(f"{NS}g") if "node" in g.get("class", "")]
    kinds = [g.get("class", "").split()[1] for g in nodes]
    assert kinds == ["data", "data", "run", "model", "bento", "monitor"]
    # data (2) -> run (1) -> model (1) -> bento (1) -> monitoring (1)
    assert len([p for p in root.iter(f"{NS}path") if p.get("class") == "edge"]) == 5
    texts = _texts(svg)
    assert "data/train.csv" in texts and "md5 0123456789ab" in texts and "git a1b2c3d4e5" in texts
    assert "iris v3" in texts and "iris:v1" in texts and "loss: 0.1235" in texts
    assert not any("system/" in t for t in texts)  # hardware metrics stay on the run page
    assert "drift_share: 0.75" in texts and "alerts: 1" in texts and "digest: d1g3st" in texts
    assert "time (UTC): 2026-11-26 17:49" in texts


def test_missing_parts_are_drawn_as_not_recorded() -> None:
    svg = lineage_svg({"model": {"name": "m", "version": "1"}})
    texts = _texts(svg)
    assert texts.count("not recorded") == 4
    assert "m v1" in texts


def test_text_is_escaped_and_long_text_shortened() -> None:
    chain = {"data": [{"path": "<script>alert(1)</script>" + "x" * 50, "md5": "&<>"}]}
    svg = lineage_svg(chain)
    assert "<script>" not in svg
    texts = _texts(svg)  # parses: the escaping kept the XML well-formed
    assert any(t.startswith("<script>alert(1)") and t.endswith("…") for t in texts)
    assert "md5 &<>" in texts


def test_yes_no_facts_of_the_latest_check_read_yes_or_no() -> None:
    """The monitoring run keeps them as MLflow metrics, 1.0 / 0.0."""
    latest = {"check": 2, "dataset_drift": 1.0, "retraining_suggested": 0.0, "drift_share": 0.8}
    texts = _texts(lineage_svg({"monitoring": {"latest": latest}}))
    assert "dataset_drift: yes" in texts and "retraining_suggested: no" in texts
    assert "drift_share: 0.8" in texts and "check: 2" in texts  # numbers stay numbers
    assert "drift_detected: yes" in _texts(lineage_svg({"monitoring": {"drift_detected": True}}))
