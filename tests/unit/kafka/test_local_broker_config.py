"""The local broker's config generation and its start-up checks, without starting a JVM."""

from __future__ import annotations

import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.kafka import (
    BrokerError,
    JavaNotFoundError,
    KafkaJarsNotFoundError,
    LocalBroker,
    default_libs_dir,
    free_port,
)
from pipeline.kafka.local_broker import (
    REPO_ROOT,
    _error_summary,
    _tail,
    find_java,
    parse_java_version,
    random_cluster_id,
    read_properties,
)


@pytest.fixture
def broker(tmp_path: Path) -> LocalBroker:
    return LocalBroker(data_dir=tmp_path / "kafka", port=19092, controller_port=19093)


@pytest.fixture(autouse=True)
def _fresh_java_lookup() -> Iterator[None]:
    # find_java caches its answer; tests that change PATH must neither see nor leave one.
    find_java.cache_clear()
    yield
    find_java.cache_clear()


def test_server_properties_describe_a_single_node_kraft_cluster(broker: LocalBroker) -> None:
    config = broker.server_properties()

    assert config["process.roles"] == "broker,controller"
    assert config["node.id"] == "1"
    assert config["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert config["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert config["controller.listener.names"] == "CONTROLLER"
    assert config["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert config["log.dirs"] == str(broker.data_dir / "logs")
    assert config["offsets.topic.replication.factor"] == "1"
    assert config["transaction.state.log.replication.factor"] == "1"
    assert config["transaction.state.log.min.isr"] == "1"
    assert config["group.initial.rebalance.delay.ms"] == "0"
    assert config["num.partitions"] == "1"
    assert config["auto.create.topics.enable"] == "true"


def test_written_file_reads_back_as_the_same_config(broker: LocalBroker) -> None:
    path = broker.write_server_properties()

    assert path == broker.data_dir / "server.properties"
    assert read_properties(path) == broker.server_properties()


def test_extra_config_adds_and_overrides(tmp_path: Path) -> None:
    broker = LocalBroker(
        data_dir=tmp_path,
        controller_port=9093,
        extra_config={"num.partitions": "4", "log.retention.ms": "60000"},
    )

    config = broker.server_properties()

    assert config["num.partitions"] == "4"
    assert config["log.retention.ms"] == "60000"


def test_paths_are_absolute_even_from_a_relative_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    broker = LocalBroker(data_dir=Path("var/kafka"), controller_port=9093)

    assert broker.data_dir == tmp_path / "var" / "kafka"
    assert broker.server_properties()["log.dirs"] == str(tmp_path / "var" / "kafka" / "logs")
    assert broker.bootstrap_servers == "127.0.0.1:9092"


def test_controller_port_is_chosen_once_and_kept_across_restarts(tmp_path: Path) -> None:
    first = LocalBroker(data_dir=tmp_path, port=free_port())
    first.write_server_properties()
    chosen = first.controller_port
    assert chosen is not None

    # A later start, e.g. from a new CLI call, finds the port in the data dir.
    again = LocalBroker(data_dir=tmp_path, port=first.port)

    assert again.resolve_controller_port() == chosen


def test_for_data_dir_uses_the_recorded_port(tmp_path: Path) -> None:
    LocalBroker(data_dir=tmp_path, port=29092, controller_port=29093).write_server_properties()

    assert LocalBroker.for_data_dir(tmp_path).port == 29092
    assert LocalBroker.for_data_dir(tmp_path, port=39092).port == 39092
    assert LocalBroker.for_data_dir(tmp_path / "never-started").port == 9092


def test_libs_dir_defaults_to_the_repo_cache_and_follows_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KPI_KAFKA_LIBS", raising=False)
    assert default_libs_dir() == REPO_ROOT / ".cache" / "kafka" / "libs"

    monkeypatch.setenv("KPI_KAFKA_LIBS", str(tmp_path))
    assert default_libs_dir() == tmp_path
    assert LocalBroker(data_dir=tmp_path / "kafka").libs_dir == tmp_path


def test_missing_jars_tell_to_run_make_setup(tmp_path: Path) -> None:
    empty = tmp_path / "libs"
    empty.mkdir()
    broker = LocalBroker(data_dir=tmp_path / "kafka", port=free_port(), libs_dir=empty)

    with pytest.raises(KafkaJarsNotFoundError, match=r"run `make setup`") as caught:
        broker.start(timeout=1)

    assert str(caught.value) == f"Kafka jars not found in {empty}: run `make setup`"
    assert not broker.pid_file.exists()


def test_missing_java_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(JavaNotFoundError, match="java not found"):
        find_java()


def test_old_java_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_java = tmp_path / "bin" / "java"
    fake_java.parent.mkdir()
    fake_java.write_text("#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n")
    fake_java.chmod(fake_java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))

    with pytest.raises(JavaNotFoundError, match="is Java 8, the local Kafka broker needs Java 17"):
        find_java()


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_392"', 8),
        ("no version here", None),
    ],
)
def test_parse_java_version(output: str, major: int | None) -> None:
    assert parse_java_version(output) == major


def test_cluster_ids_have_kafkas_format() -> None:
    ids = {random_cluster_id() for _ in range(200)}

    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id) for cluster_id in ids)
    assert not any(cluster_id.startswith("-") for cluster_id in ids)


def test_stopping_a_broker_that_never_ran_is_a_no_op(broker: LocalBroker) -> None:
    assert broker.stop() is False
    assert not broker.is_running()


def test_a_stale_pid_file_is_ignored_and_removed(broker: LocalBroker) -> None:
    broker.data_dir.mkdir(parents=True)
    # Not a broker: pid 1 is init, or the container's entry point.
    broker.pid_file.write_text("1\n")

    assert not broker.is_running()
    assert broker.stop() is False
    assert not broker.pid_file.exists()


def test_a_port_in_use_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        broker = LocalBroker(data_dir=tmp_path, port=port, controller_port=free_port())

        with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{port} is already in use"):
            broker.start(timeout=1)

    assert not broker.pid_file.exists()


def test_error_summary_shows_the_first_errors_with_their_messages() -> None:
    log = "\n".join(
        [
            "[2026-01-01 00:00:00,000] INFO starting (kafka.Kafka)",
            "[2026-01-01 00:00:01,000] ERROR Unable to start acceptor (kafka.network.Acceptor)",
            "org.apache.kafka.common.KafkaException: failed to bind to 127.0.0.1:9093",
            "\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:736)",
            "\t... 17 more",
            "[2026-01-01 00:00:02,000] ERROR Encountered fatal fault (kafka.Fault)",
            "[2026-01-01 00:00:03,000] INFO shut down completed (kafka.Kafka)",
        ]
    )

    assert _error_summary(log) == (
        "[2026-01-01 00:00:01,000] ERROR Unable to start acceptor (kafka.network.Acceptor)\n"
        "org.apache.kafka.common.KafkaException: failed to bind to 127.0.0.1:9093\n"
        "[2026-01-01 00:00:02,000] ERROR Encountered fatal fault (kafka.Fault)"
    )
    assert _tail(log, 2) == (
        "[2026-01-01 00:00:02,000] ERROR Encountered fatal fault (kafka.Fault)\n"
        "[2026-01-01 00:00:03,000] INFO shut down completed (kafka.Kafka)"
    )


def test_a_sasl_listener_beside_the_plaintext_one(tmp_path: Path) -> None:
    broker = LocalBroker(
        data_dir=tmp_path / "kafka",
        port=19092,
        controller_port=19093,
        sasl_port=19094,
        sasl_users={"alice": "alice-pw"},
    )
    config = broker.server_properties()
    assert config["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:19092,SASL_PLAINTEXT://127.0.0.1:19094"
    )
    assert config["sasl.enabled.mechanisms"] == "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
    assert 'user_alice="alice-pw";' in config["listener.name.sasl_plaintext.plain.sasl.jaas.config"]
    assert broker.scram_arguments() == [
        "--add-scram",
        "SCRAM-SHA-256=[name=alice,password=alice-pw]",
        "--add-scram",
        "SCRAM-SHA-512=[name=alice,password=alice-pw]",
    ]
    broker.write_server_properties()
    # The recorded port is the PLAINTEXT one, not the SASL listener listed after it.
    assert LocalBroker.for_data_dir(broker.data_dir).port == 19092
    assert broker.sasl_bootstrap_servers == "127.0.0.1:19094"
    with pytest.raises(ValueError, match="letters, digits"):
        LocalBroker(data_dir=tmp_path, sasl_port=1, sasl_users={"bob": 'pw"; evil'})
