"""Settings: defaults, file, environment and flags, in that order; clear errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from pipeline.errors import ValidationError
from pipeline.priority import CpuPriority
from pipeline.settings import (
    DEFAULT_CONFIG_FILE,
    BrokerSettings,
    ReaderSettings,
    Settings,
    load_settings,
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("FITSFLOW_"):
            monkeypatch.delenv(name)


def test_shipped_config_file_equals_builtin_defaults() -> None:
    shipped = tomllib.loads(DEFAULT_CONFIG_FILE.read_text())
    defaults = Settings.model_validate({}).model_dump(mode="json")
    # TOML has no null: settings that default to "unset" are documented in a
    # comment instead, and must be mentioned there.
    text = DEFAULT_CONFIG_FILE.read_text()
    for section, values in defaults.items():
        for key in [k for k, v in values.items() if v is None]:
            assert f"# {key} = " in text, f"{section}.{key} is not documented"
            del values[key]
    # Every other default is in the file, with the same value.
    assert {
        k: {f: list(v) if isinstance(v, tuple) else v for f, v in s.items()}
        for k, s in shipped.items()
    } == defaults


def test_environment_overrides_file_and_flags_override_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "site.toml"
    config.write_text('[database]\nurl = "sqlite:///from-file.db"\npool_max_size = 3\n')
    assert load_settings(config_file=config).database.url == "sqlite:///from-file.db"
    monkeypatch.setenv("FITSFLOW_DATABASE_URL", "sqlite:///from-env.db")
    monkeypatch.setenv("FITSFLOW_READER_MAX_HDUS", "7")
    settings = load_settings(config_file=config)
    assert settings.database.url == "sqlite:///from-env.db"
    assert settings.database.pool_max_size == 3  # untouched keys keep the file's value
    assert settings.reader.max_hdus == 7
    flagged = load_settings({"database": {"url": "sqlite:///from-flag.db"}}, config_file=config)
    assert flagged.database.url == "sqlite:///from-flag.db"
    assert flagged.reader.max_hdus == 7


def test_flags_left_unset_do_not_mask_lower_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FITSFLOW_DATABASE_URL", "postgresql://db.example/catalogue")
    settings = load_settings({"database": {"url": None}})
    assert settings.database.url == "postgresql://db.example/catalogue"


def test_config_file_named_by_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "other.toml"
    config.write_text("[reader]\nmax_hdus = 12\n")
    monkeypatch.setenv("FITSFLOW_CONFIG", str(config))
    assert load_settings().reader.max_hdus == 12


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("FITSFLOW_DATABASE_POOL_MAX_SIZE", "zero", "database.pool_max_size"),
        ("FITSFLOW_DATABASE_POOL_MAX_SIZE", "0", "database.pool_max_size"),
        ("FITSFLOW_DATABASE_URL", "mysql://x/y", "database.url"),
        ("FITSFLOW_READER_MAX_SECONDS_PER_FILE", "-1", "reader.max_seconds_per_file"),
        ("FITSFLOW_READER_VERIFY_CHECKSUMS", "perhaps", "reader.verify_checksums"),
    ],
)
def test_bad_values_name_the_setting_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert named in caught.value.message
    assert variable in caught.value.message
    assert caught.value.details["settings"] == [named]
    assert caught.value.__cause__ is not None


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "typo.toml"
    config.write_text("[database]\nulr = 'sqlite:///x.db'\n")
    with pytest.raises(ValidationError) as caught:
        load_settings(config_file=config)
    assert "database.ulr" in caught.value.message
    assert str(config) in caught.value.message


def test_pool_bounds_are_checked_together() -> None:
    with pytest.raises(ValidationError, match="pool_min_size must not exceed pool_max_size"):
        load_settings({"database": {"pool_min_size": 5, "pool_max_size": 2}})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_settings(config_file=tmp_path / "absent.toml")


def test_reader_processes_default_to_one_for_the_embedded_process_on_two_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unset = ReaderSettings()
    assert unset.processes is None
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    assert unset.reader_processes(embedded=True) == 1
    # fitsflow ingest and fitsflow worker read in their own threads.
    assert unset.reader_processes(embedded=False) == 0
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert unset.reader_processes(embedded=True) == 0
    # A value set is a value kept, everywhere.
    assert ReaderSettings(processes=0).reader_processes(embedded=True) == 0
    assert ReaderSettings(processes=3).reader_processes(embedded=False) == 3


def test_worker_priority_is_one_of_two_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FITSFLOW_WORKER_PRIORITY", "low")
    with pytest.raises(ValidationError, match=r"worker\.priority"):
        load_settings()
    monkeypatch.setenv("FITSFLOW_WORKER_PRIORITY", "idle")
    assert load_settings().worker.priority is CpuPriority.IDLE


def test_only_a_memory_broker_is_in_process() -> None:
    assert BrokerSettings().in_process  # the embedded default
    assert BrokerSettings(url="memory://").in_process
    for url in ("redis://localhost:6379/0", "rediss://h/0", "amqp://guest@h//", "amqps://h//"):
        assert not BrokerSettings(url=url).in_process
