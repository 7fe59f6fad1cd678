"""Settings layers, validation and the generated mlops.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mlops.config import load_settings, render_default_config, validate_project_name
from mlops.errors import ConfigurationError, InvalidInputError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_embedded_defaults(repo: Path) -> None:
    s = load_settings("p", repo_root=repo)
    assert s.root == repo.resolve()
    assert s.tracking_uri == f"sqlite:///{repo.resolve()}/.mlops/mlflow.db"
    assert s.experiment_name == "p"
    assert s.config_file is None
    assert s.telemetry.flush_timeout == 30.0 and s.hardware.interval == 10.0


def test_precedence_defaults_file_project_env_args(repo: Path) -> None:
    write(
        repo / "mlops.toml",
        """
[tracking]
uri = "sqlite:///shared.db"
timeout = 5
[hardware]
interval = 3
[projects.special.hardware]
interval = 7
system_metrics = true
""",
    )
    plain = load_settings("plain", repo_root=repo, environ={})
    assert plain.tracking_uri == f"sqlite:///{repo.resolve()}/shared.db"  # relative to the file
    assert plain.hardware.interval == 3.0 and plain.tracking.timeout == 5.0
    special = load_settings("special", repo_root=repo, environ={})
    assert special.hardware.interval == 7.0 and special.hardware.system_metrics is True
    env = {"MLOPS_HARDWARE_INTERVAL": "8", "MLOPS_TRACKING_URI": "http://h:1"}
    from_env = load_settings("special", repo_root=repo, environ=env)
    assert from_env.hardware.interval == 8.0 and from_env.tracking_uri == "http://h:1"
    assert from_env.sources["hardware.interval"] == "environment variable MLOPS_HARDWARE_INTERVAL"
    args = load_settings(
        "special",
        repo_root=repo,
        environ=env,
        overrides={"hardware_interval": 9, "tracking": {"timeout": 1}},
    )
    assert args.hardware.interval == 9.0 and args.tracking.timeout == 1.0
    assert args.sources["hardware.interval"] == "arguments"


def test_env_aliases(repo: Path) -> None:
    env = {"MLOPS_SYSTEM_METRICS_INTERVAL": "2.5", "MLOPS_SYSTEM_METRICS": "yes"}
    s = load_settings("p", repo_root=repo, environ=env)
    assert s.hardware.interval == 2.5 and s.hardware.system_metrics is True


def test_found_by_walking_up_and_root_is_its_folder(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(repo / "mlops.toml", "[tracking]\ntimeout = 4\n")
    deep = repo / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    s = load_settings("p", environ={})
    assert s.config_file == repo / "mlops.toml"
    assert s.root == repo.resolve() and s.tracking.timeout == 4.0


def test_pyproject_tool_table_counts(repo: Path) -> None:
    write(repo / "pyproject.toml", "[project]\nname='x'\n[tool.mlops.tracking]\ntimeout = 6\n")
    s = load_settings("p", repo_root=repo, environ={})
    assert s.tracking.timeout == 6.0 and s.config_file == repo / "pyproject.toml"


def test_mlops_config_env_names_the_file(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    central = write(tmp_path / "central.toml", "[data]\nremote_url = 's3://team/data'\n")
    monkeypatch.setenv("MLOPS_CONFIG", str(central))
    s = load_settings("p", repo_root=repo)
    assert s.data.remote_url == "s3://team/data" and s.config_file == central
    monkeypatch.setenv("MLOPS_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match="not a file"):
        load_settings("p", repo_root=repo)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[tracking]\nurl = 'x'\n", "unknown key 'url' in section \\[tracking\\] of .*mlops.toml"),
        ("[trackign]\nuri = 'x'\n", "unknown section \\[trackign\\]"),
        ("[projects.p.tracking]\nbogus = 1\n", "unknown key 'bogus'.*\\[projects.p\\]"),
        ("[tracking]\ntimeout = 'soon'\n", "tracking.timeout = 'soon' .* not a valid float"),
        ("[tracking]\nconnect_after = -1\n", "tracking.connect_after = -1 .* 0 or more"),
        ("[telemetry]\nflush_timeout = inf\n", "flush_timeout = inf .* 0 or more"),
        ("[hardware]\nsystem_metrics = 'maybe'\n", "not a valid bool"),
        ("[tracking\n", "cannot read"),
    ],
)
def test_bad_files_name_key_and_file(repo: Path, text: str, message: str) -> None:
    write(repo / "mlops.toml", text)
    with pytest.raises(ConfigurationError, match=message):
        load_settings("p", repo_root=repo, environ={})


def test_bad_env_and_args(repo: Path) -> None:
    with pytest.raises(ConfigurationError, match="MLOPS_TELEMETRY_BATCH_SIZE"):
        load_settings("p", repo_root=repo, environ={"MLOPS_TELEMETRY_BATCH_SIZE": "many"})
    with pytest.raises(ConfigurationError, match="unknown setting 'colour'"):
        load_settings("p", repo_root=repo, overrides={"colour": "red"})
    with pytest.raises(ConfigurationError, match="unknown key 'nope'"):
        load_settings("p", repo_root=repo, overrides={"tracking_nope": 1})


def test_redacted_dump(repo: Path) -> None:
    s = load_settings(
        "p", repo_root=repo, overrides={"tracking_uri": "http://u:pw@h", "dashboard_token": "t0k"}
    )
    dumped = s.as_dict()
    assert dumped["tracking"]["uri"] == "http://u:***@h" and dumped["dashboard"]["token"] == "***"


def test_rendered_config_is_valid_toml_with_every_key(repo: Path) -> None:
    text, example = render_default_config().split("# Per-project overrides")
    assert "MLOPS_TRACKING_URI" in text and "[projects." in example
    uncommented = "\n".join(
        line[2:] if line.startswith("# ") and " = " in line and not line.startswith("# [") else line
        for line in text.splitlines()
        if not line.startswith("# [projects")
    )
    table = tomllib.loads(uncommented.replace('""  # unset', '""'))
    write(repo / "mlops.toml", uncommented.replace('""  # unset', '""'))
    s = load_settings("p", repo_root=repo, environ={})
    assert set(table) >= {"tracking", "telemetry", "server", "data", "serving", "monitoring"}
    assert s.tracking.uri is None and s.telemetry.batch_size == 1000


@pytest.mark.parametrize("name", ["lora-finetuning-mlx", "a", "p.v2_x", "A1" * 50])
def test_valid_project_names(name: str) -> None:
    assert validate_project_name(name) == name


@pytest.mark.parametrize(
    "name", ["../x", "a/b", "..", ".hidden", "", "a" * 101, "x..y", "a b", None, 3]
)
def test_invalid_project_names(name: object) -> None:
    with pytest.raises(InvalidInputError, match="invalid project name") as info:
        validate_project_name(name)
    assert "letters, digits" in (info.value.hint or "")
