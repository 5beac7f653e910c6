"""Settings: one env prefix (``KPI_``), nested with ``__``, or a YAML/JSON file.

Settings are built once by the CLI and passed into every factory; nothing reads them from a
module global.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.config_keys import SettingsError, unknown_env_keys, unknown_file_keys
from pipeline.core.durations import parse_duration
from pipeline.schemas.events import Channel

__all__ = [
    "InputSettings",
    "KafkaSettings",
    "KpiSettings",
    "Settings",
    "SettingsError",
    "TimeSettings",
    "TopicSettings",
    "WebSettings",
    "WindowSetting",
    "WorkerSettings",
    "load_settings",
]


class KafkaSettings(BaseModel):
    """Where the brokers are and how to authenticate to them (used by every Kafka client the
    pipeline creates: see ``pipeline.kafka.security``). Secrets are ``SecretStr``: they print
    as ``**********`` in reprs and logs, and validation errors leave the input out (it would
    carry the password)."""

    model_config = ConfigDict(hide_input_in_errors=True, extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    # TLS (SSL, SASL_SSL): the CA bundle that signed the brokers' certificates (default: the
    # system's), and a client certificate and key for mutual TLS.
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True
    # How long start-up waits for the brokers (connect, authenticate, create topics) before
    # giving up with an error, rather than retrying forever.
    connect_timeout: float = Field(default=30.0, gt=0)
    # A worker that dies without leaving its consumer group (SIGKILL, OOM, a lost host) keeps
    # its partitions until this session times out: the restarted worker (or the others) wait
    # that long before they can take over. Faust's default is 60 s; heartbeats come from a
    # thread of their own, so a busy worker does not miss them.
    session_timeout: float = Field(default=10.0, ge=6.0, le=300.0)

    @model_validator(mode="after")
    def _consistent_security(self) -> KafkaSettings:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and (self.sasl_mechanism is None or not self.sasl_username):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs sasl_mechanism and "
                "sasl_username (and sasl_password)"
            )
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(
                f"sasl_mechanism {self.sasl_mechanism} needs security_protocol SASL_PLAINTEXT "
                f"or SASL_SSL, not {self.security_protocol}"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together (mutual TLS)")
        return self


class InputSettings(BaseModel):
    """Limits on input records (see the error policy in docs/errors.md)."""

    model_config = ConfigDict(extra="forbid")

    # Valid events are a few hundred bytes (a survey comment at most 10,000 characters):
    # anything larger is rejected as record_too_large before it is parsed.
    max_record_bytes: int = Field(default=64 * 1024, ge=1024)
    # An event more than this far ahead of both the wall clock and the newest event time of
    # the worker's partitions is rejected as timestamp_in_future: one such event would move
    # its partition's watermark and make every later event late. "none": no bound.
    max_future: str | None = "1h"

    @field_validator("max_future")
    @classmethod
    def _valid_future(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == "none":
            return None
        if parse_duration(value) <= 0:
            raise ValueError("must be a positive duration such as 1h, or none")
        return value

    @property
    def max_future_seconds(self) -> float | None:
        return None if self.max_future is None else parse_duration(self.max_future)


class TopicSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tickets: str = "tickets"
    surveys: str = "surveys"
    dlq: str = "events-dlq"
    windows: str = "kpi-windows"
    alerts: str = "kpi-alerts"
    # Workers hand their partitions' pane aggregates and progress to the one worker that closes
    # windows through this topic (one partition; see the README's design notes).
    panes: str = "kpi-panes"
    # Input topics and the worker's table changelogs must be co-partitioned.
    partitions: int = Field(default=4, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    # Input records carry event time as their timestamp, and Kafka's time-based retention
    # judges by record timestamps: history (imports, simulations, replays) would be deleted
    # within minutes under a 7-day retention. Input topics created by the pipeline keep records
    # forever unless this says otherwise (milliseconds; -1 = no time limit).
    input_retention_ms: int = -1

    def input_topic_configs(self) -> dict[str, str]:
        return {"retention.ms": str(self.input_retention_ms)}


class WindowSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    size: str
    step: str

    @field_validator("size", "step")
    @classmethod
    def _valid_duration(cls, value: str) -> str:
        if parse_duration(value) <= 0:
            raise ValueError("must be a positive duration such as 5m, 1h or 24h")
        return value


def _default_windows() -> list[WindowSetting]:
    return [
        WindowSetting(name="1h", size="1h", step="5m"),
        WindowSetting(name="24h", size="24h", step="1h"),
    ]


class TimeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    windows: list[WindowSetting] = Field(default_factory=_default_windows)
    allowed_lateness: str = "10m"
    # Events are released to the lifecycle in event-time order once the watermark passes them,
    # in ticks that batch table writes; default one pane (the gcd of window sizes and steps).
    release_tick: str | None = None
    # Ids of a closed ticket's events (and of surveys) are kept this long after release, so a
    # redelivered or re-imported copy counts as a duplicate, not as late (never counted twice
    # either way; see the README's design notes).
    dedup_horizon: str = "6h"
    # A live input partition that is read to its end and has received nothing for this long
    # (wall clock) stops holding window closing back: its watermark follows the wall clock
    # minus the allowed lateness and ``max_producer_delay``, so a quiet desk's windows still
    # close. "off" turns it off (windows then wait for events). Replays never use it.
    idle_timeout: str = "60s"
    # How far behind the wall clock producers may deliver events of an idle input and still be
    # counted (beyond that they are late, in the DLQ).
    max_producer_delay: str = "30s"

    @field_validator("idle_timeout")
    @classmethod
    def _valid_idle_timeout(cls, value: str) -> str:
        if value != "off" and parse_duration(value) <= 0:
            raise ValueError("idle_timeout must be a positive duration or 'off'")
        return value

    @field_validator("allowed_lateness", "release_tick", "dedup_horizon", "max_producer_delay")
    @classmethod
    def _valid_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class KpiSettings(BaseModel):
    """Parameters of the KPI definitions (see docs/kpis.md)."""

    model_config = ConfigDict(extra="forbid")

    sla: dict[str, str] = Field(
        default_factory=lambda: {"P1": "4h", "P2": "8h", "P3": "24h", "P4": "72h"},
        description="Resolution-time objective per priority, for sla_compliance (not used "
        "when sla_file gives an SLA policy).",
    )
    channel_hourly_rates: dict[str, float] = Field(
        default_factory=lambda: {
            "phone": 40.0,
            "email": 30.0,
            "chat": 30.0,
            "web": 30.0,
            "self_service": 0.0,
            "social": 30.0,
        },
        description="Cost of an hour of agent effort per channel, for cost_per_interaction.",
    )

    @field_validator("sla")
    @classmethod
    def _valid_sla(cls, value: dict[str, str]) -> dict[str, str]:
        for priority, duration in value.items():
            if priority not in ("P1", "P2", "P3", "P4"):
                raise ValueError(f"unknown priority {priority!r} (expected P1..P4)")
            parse_duration(duration)
        return value

    @field_validator("channel_hourly_rates")
    @classmethod
    def _valid_rates(cls, value: dict[str, float]) -> dict[str, float]:
        channels = [c.value for c in Channel]
        for channel in value:
            if channel not in channels:
                close = difflib.get_close_matches(channel, channels, n=1)
                hint = f"did you mean {close[0]!r}?" if close else f"channels: {channels}"
                raise ValueError(f"unknown channel {channel!r}; {hint}")
        negative = [channel for channel, rate in value.items() if rate < 0]
        if negative:
            raise ValueError(f"hourly rates must be >= 0: {negative}")
        return value


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bind: str = "127.0.0.1"
    port: int = Field(default=6066, ge=0, le=65535)
    # Faust's table and router views expose table contents: off unless asked for.
    tables_enabled: bool = False


class WorkerSettings(BaseModel):
    """Throughput knobs of the live worker (measured in BENCHMARKS.md)."""

    model_config = ConfigDict(extra="forbid")

    # The agent takes records in batches: state changes are written to the table changelog
    # once per key per batch, and the batch's offsets are acknowledged only after its writes
    # have been handed to the producer (see README, design notes).
    batch_size: int = Field(default=2000, ge=1)
    # How long a batch waits to fill before it is processed anyway (seconds): bounds the delay
    # a quiet stream adds.
    batch_within: float = Field(default=0.05, gt=0)
    # Producer batching of changelog and output records (seconds): without it every changelog
    # write is its own produce request.
    producer_linger: float = Field(default=0.01, ge=0)
    producer_max_batch_size: int = Field(default=256 * 1024, ge=1024)
    # The event loop: uvloop runs Faust's per-record stream machinery (a few loop iterations
    # and tasks per record) about a third faster than asyncio's own loop (BENCHMARKS.md).
    event_loop: Literal["uvloop", "asyncio"] = "uvloop"
    # The most the consumer fetches of one input partition at a time (Faust's
    # consumer_max_fetch_size, 1 MiB by default). Fetched records wait in memory, decoded,
    # until the agent takes them: at 1 MiB for each of 16 partitions that was about 30 MiB
    # more resident memory than this, at the same records per CPU second (BENCHMARKS.md). A
    # record batch larger than this is still fetched (whole, on its own).
    fetch_partition_bytes: int = Field(default=256 * 1024, ge=1024)
    # glibc malloc arenas for the worker's threads (0: glibc's default, up to 8 per CPU). The
    # Kafka consumer's thread and RocksDB's background jobs each get an arena of their own
    # otherwise, whose freed memory only that thread reuses: about 50 MiB more resident memory
    # than one shared arena, at the same records per CPU second (BENCHMARKS.md; Python's small
    # objects do not come from malloc, so threads rarely wait for the shared arena).
    malloc_arenas: int = Field(default=1, ge=0)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KPI_",
        env_nested_delimiter="__",
        extra="forbid",
        # An error's input would include the Kafka password.
        hide_input_in_errors=True,
    )

    app_id: str = "kpi-pipeline"
    data_dir: Path = Path("var")
    # The tables' store (pipeline/worker/stores.py): "rocksdb://" keeps them on disk under
    # data_dir, so a restart reads only the changelog written since; "memory://" reads all of it.
    store: str = "rocksdb://"
    # Copies of each table partition kept warm on other workers (Faust's
    # table_standby_replicas): a partition that moves to a worker holding a standby resumes
    # without replaying its whole changelog. 0 turns them off.
    standby_replicas: int = Field(default=1, ge=0)
    log_level: str = "info"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    time: TimeSettings = Field(default_factory=TimeSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    kpi: KpiSettings = Field(default_factory=KpiSettings)
    input: InputSettings = Field(default_factory=InputSettings)
    # The targets file (version targets/v1); reloaded on change or SIGHUP. None: no alerts.
    targets_file: Path | None = None
    # The improvements register (version improvements/v1); reloaded like the targets file.
    # None: no improvements evaluated.
    improvements_file: Path | None = None
    # The SLA policy file (version sla/v1): limits, pausing statuses, business hours. None:
    # 24/7, nothing pauses, the limits of kpi.sla. Read when the worker or a replay starts.
    sla_file: Path | None = None
    breakdowns: list[str] = Field(
        default_factory=lambda: [
            "all",
            "service",
            "service_team",
            "service_channel",
            "service_priority",
        ]
    )


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Settings from an optional YAML/JSON file, then env vars, then explicit overrides.

    A key that names no setting, at any level, in the file or in a ``KPI_`` env var, is an
    error (``SettingsError``) that names it and the nearest valid key: a mistyped setting
    would otherwise be ignored without a word."""
    file_values: dict[str, Any] = {}
    problems: list[str] = []
    if path is not None:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        if loaded is not None and not isinstance(loaded, dict):
            raise SettingsError(f"{path}: the settings file must hold a mapping at the top level")
        file_values = loaded or {}
        problems += unknown_file_keys(Settings, file_values, str(path))
    config = Settings.model_config
    problems += unknown_env_keys(
        Settings, config.get("env_prefix") or "", config.get("env_nested_delimiter") or "__"
    )
    if problems:
        raise SettingsError("\n".join(problems))
    env_settings = Settings()
    # Deep: KPI_TIME__IDLE_TIMEOUT changes one key of the file's ``time``, not all of it.
    merged = _merge(file_values, env_settings.model_dump(exclude_unset=True))
    return Settings(**{**merged, **overrides})


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        old = merged.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and key not in _WHOLE_VALUES:
            merged[key] = _merge(old, value)
        else:
            merged[key] = value
    return merged


# Mappings that are one value each (kpi.sla given in an env var replaces the file's).
_WHOLE_VALUES = frozenset({"sla", "channel_hourly_rates"})
