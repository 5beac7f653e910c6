"""A local single-node Apache Kafka broker (KRaft mode) for the demo and the integration tests.

The broker is the official Kafka 3.9 jars from Maven Central (``make setup`` copies them into
``.cache/kafka/libs``, see ``deploy/kafka/pom.xml``) run by the machine's Java 17+. No Kafka
distribution, Docker or ZooKeeper is involved: :class:`LocalBroker` writes a ``server.properties``
into its data directory, formats the storage once, starts ``kafka.Kafka`` as a detached process
and waits until the broker answers a metadata request.

Everything about one broker lives in its data directory:

``server.properties``   the generated broker config (ports are kept across restarts)
``logs/``               the topic data and the KRaft metadata log
``server.log``          the broker's own log (``deploy/kafka/log4j.properties``)
``console.log``         the JVM's stdout and stderr (crashes that happen before logging starts)
``broker.pid``          the id of the running broker process
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

__all__ = [
    "BrokerError",
    "JavaNotFoundError",
    "KafkaJarsNotFoundError",
    "LocalBroker",
    "default_libs_dir",
    "ensure_topics",
    "free_port",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
LIBS_ENV_VAR = "KPI_KAFKA_LIBS"
DEFAULT_LOG4J_CONFIG = REPO_ROOT / "deploy" / "kafka" / "log4j.properties"
MIN_JAVA_MAJOR = 17
DEFAULT_PORT = 9092
NODE_ID = 1
# The machine has 2 cores and the tests, the worker and the simulator share them with the broker.
JVM_HEAP_OPTS = ("-Xms256m", "-Xmx1g")
JVM_OPTS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
LOG_TAIL_LINES = 40

_PID_FILE = "broker.pid"
_SERVER_LOG = "server.log"
_CONSOLE_LOG = "console.log"
_SERVER_PROPERTIES = "server.properties"
_METADATA_API_KEY = 3
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# Metadata v1 is the oldest version Kafka 3.x and 4.x both answer, and its reply starts with the
# broker list, which is all the readiness check reads.
_METADATA_API_VERSION = 1


class BrokerError(RuntimeError):
    """The local broker could not be started, checked or stopped."""


class KafkaJarsNotFoundError(BrokerError):
    """The Kafka jars have not been downloaded yet."""


class JavaNotFoundError(BrokerError):
    """No usable Java (17 or newer) is installed."""


def default_libs_dir() -> Path:
    """Where ``make setup`` puts the Kafka jars, unless ``KPI_KAFKA_LIBS`` says otherwise."""
    override = os.environ.get(LIBS_ENV_VAR)
    return Path(override) if override else REPO_ROOT / ".cache" / "kafka" / "libs"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (another process may still take it later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalBroker:
    """One single-node KRaft broker (broker and controller in one JVM) and its data directory."""

    data_dir: Path
    port: int = DEFAULT_PORT
    controller_port: int | None = None
    host: str = "127.0.0.1"
    libs_dir: Path = field(default_factory=default_libs_dir)
    log4j_config: Path = DEFAULT_LOG4J_CONFIG
    # Added to (or replacing) the generated server.properties, e.g. for a test that needs
    # a different retention.
    extra_config: Mapping[str, str] = field(default_factory=dict)
    # For test sessions: the kernel sends the broker SIGTERM when the starting process dies,
    # so a test run killed hard (timeout, Ctrl-C twice) does not leave a JVM behind. The CLI
    # leaves it off: there the broker must outlive the command that started it. The kernel
    # watches the starting *thread*, so call start() from a thread that lives as long.
    stop_with_parent: bool = False
    # An optional SASL_PLAINTEXT listener on ``sasl_port`` beside the PLAINTEXT one (which
    # stays for the readiness check and inter-broker traffic), accepting PLAIN, SCRAM-SHA-256
    # and SCRAM-SHA-512 for ``sasl_users`` (name -> password). SCRAM users are written when the
    # storage is formatted (``kafka-storage format --add-scram``), so on the first start only.
    sasl_port: int | None = None
    sasl_users: Mapping[str, str] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    # Where this start's part of server.log begins (the file outlives restarts).
    _log_offset: int = field(default=0, init=False, repr=False)

    @classmethod
    def for_data_dir(cls, data_dir: Path, port: int | None = None) -> LocalBroker:
        """The broker of an existing data dir, on the port it was last started with.

        ``port`` wins when given; 9092 is the fallback for a data dir that never ran a broker.
        """
        if port is None:
            recorded = read_properties(Path(data_dir) / _SERVER_PROPERTIES)
            match = re.search(
                r"(?:^|,)PLAINTEXT://[^,]*:(\d+)", recorded.get("advertised.listeners", "")
            )
            port = int(match.group(1)) if match else DEFAULT_PORT
        return cls(data_dir=Path(data_dir), port=port)

    def __post_init__(self) -> None:
        # The JVM runs with data_dir as its working directory, so every path must be absolute.
        self.data_dir = Path(self.data_dir).resolve()
        self.libs_dir = Path(self.libs_dir).resolve()
        if self.sasl_users and self.sasl_port is None:
            raise ValueError("sasl_users need a sasl_port to listen on")
        for name, password in self.sasl_users.items():
            # JAAS quotes them, SCRAM's format option splits on , = [ ]: keep them simple.
            if not re.fullmatch(r"[A-Za-z0-9_.@-]+", name + password):
                raise ValueError(f"SASL user {name!r}: use letters, digits and _.@- only")

    @property
    def sasl_bootstrap_servers(self) -> str:
        """The address of the SASL_PLAINTEXT listener."""
        if self.sasl_port is None:
            raise BrokerError("this broker has no SASL listener (sasl_port is not set)")
        return f"{self.host}:{self.sasl_port}"

    # -- paths -------------------------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """The address clients connect to."""
        return f"{self.host}:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / _PID_FILE

    @property
    def log_file(self) -> Path:
        """The broker's own log: the first place to look when something goes wrong."""
        return self.data_dir / _SERVER_LOG

    @property
    def console_log_file(self) -> Path:
        return self.data_dir / _CONSOLE_LOG

    @property
    def properties_file(self) -> Path:
        return self.data_dir / _SERVER_PROPERTIES

    @property
    def log_dirs(self) -> Path:
        return self.data_dir / "logs"

    # -- configuration -----------------------------------------------------------------------

    def resolve_controller_port(self) -> int:
        """The controller port: the given one, the one this data dir used before, or a free one.

        Reusing the recorded port keeps the KRaft quorum address stable across restarts.
        """
        if self.controller_port is None:
            recorded = read_properties(self.properties_file).get("controller.quorum.voters", "")
            match = re.fullmatch(rf"{NODE_ID}@[^:]+:(\d+)", recorded)
            self.controller_port = int(match.group(1)) if match else free_port(self.host)
        return self.controller_port

    def server_properties(self) -> dict[str, str]:
        """The broker config, as written to ``server.properties``."""
        controller_port = self.resolve_controller_port()
        config = {
            "process.roles": "broker,controller",
            "node.id": str(NODE_ID),
            "controller.quorum.voters": f"{NODE_ID}@{self.host}:{controller_port}",
            "listeners": (
                f"PLAINTEXT://{self.host}:{self.port},CONTROLLER://{self.host}:{controller_port}"
            ),
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self.log_dirs),
            # A single node cannot hold more than one replica of anything.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
            # The internal topics default to 50 partitions each; creating them is most of the
            # time a first consumer group waits, and one node gains nothing from so many.
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.num.partitions": "10",
            # Two cores: the defaults (3 network, 8 I/O threads) only add contention.
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
            # The 128 MiB default buffer would be an eighth of the heap for compacted topics
            # that hold a few thousand keys at most.
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            # Record timestamps are event times: imported or simulated history is older than
            # any time-based retention, and Kafka would delete it within minutes. A development
            # broker keeps everything; production topics set their own retention.
            "log.retention.ms": "-1",
        }
        if self.sasl_port is not None:
            config.update(self._sasl_properties(controller_port))
        config.update(self.extra_config)
        return config

    def _sasl_properties(self, controller_port: int) -> dict[str, str]:
        plain = f"PLAINTEXT://{self.host}:{self.port}"
        sasl = f"SASL_PLAINTEXT://{self.host}:{self.sasl_port}"
        plain_users = " ".join(f'user_{n}="{p}"' for n, p in sorted(self.sasl_users.items()))
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        return {
            "listeners": f"{plain},{sasl},CONTROLLER://{self.host}:{controller_port}",
            "advertised.listeners": f"{plain},{sasl}",
            "listener.security.protocol.map": (
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
            ),
            "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512",
            "listener.name.sasl_plaintext.plain.sasl.jaas.config": (
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};"
            ),
            "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": scram,
            "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": scram,
        }

    def write_server_properties(self) -> Path:
        """Write ``server.properties`` into the data dir (creating the dir) and return its path."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lines = ["# Generated by pipeline.kafka.local_broker: edits are overwritten on start."]
        lines += [f"{key}={value}" for key, value in self.server_properties().items()]
        self.properties_file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return self.properties_file

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Start the broker and wait until it answers, or do nothing if it already runs.

        Raises :class:`BrokerError` (with the tail of the broker log) if the broker dies or
        does not answer within ``timeout`` seconds.
        """
        pid = self.read_pid()
        if pid is not None:
            if _is_broker_process(pid):
                # Started earlier (maybe by another process) and possibly still booting.
                self._check_running_port()
                self._wait_until_ready(pid, time.monotonic() + timeout)
                return
            self.pid_file.unlink(missing_ok=True)
        if _port_open(self.host, self.port):
            raise BrokerError(
                f"{self.bootstrap_servers} is already in use by a process this data dir "
                f"({self.data_dir}) did not start: stop it or choose another port"
            )
        # Jars first: `make setup` fixes them, while a missing Java needs the system installer.
        self._check_jars()
        java = find_java()
        self.write_server_properties()
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        self._format_storage(java)
        process = self._launch(java)
        try:
            self._wait_until_ready(process.pid, time.monotonic() + timeout)
        except BaseException:
            # A broker that never became ready is of no use, and must not outlive the caller.
            self._terminate(process.pid, grace=5.0)
            raise

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout`` seconds).

        Returns whether there was a broker to stop; stopping a stopped broker does nothing.
        """
        pid = self.read_pid()
        running = pid is not None and _is_broker_process(pid)
        if pid is not None and running:
            self._terminate(pid, grace=timeout)
        self.pid_file.unlink(missing_ok=True)
        self._process = None
        return running

    def is_running(self) -> bool:
        """True when the broker process of this data dir is alive and its port accepts clients."""
        pid = self.read_pid()
        return (
            pid is not None
            and self._alive(pid)
            and _is_broker_process(pid)
            and _port_open(self.host, self.port)
        )

    def read_pid(self) -> int | None:
        """The pid recorded in the pid file, if there is a readable one."""
        try:
            return int(self.pid_file.read_text(encoding="utf-8").strip())
        except (FileNotFoundError, ValueError):
            return None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """What went wrong, for error messages.

        The first errors of this start, then the last lines of the broker log and of the JVM
        console, with Java stack frames left out.
        """
        parts = []
        errors = _error_summary(_read_from(self.log_file, self._log_offset))
        if errors:
            parts.append(f"--- first errors in {self.log_file} ---\n{errors}")
        for path in (self.log_file, self.console_log_file):
            tail = _tail(_read_from(path, 0), lines)
            if tail:
                parts.append(f"--- last lines of {path} ---\n{tail}")
        return "\n".join(parts) if parts else "(the broker wrote no log)"

    # -- internals ---------------------------------------------------------------------------

    def _check_running_port(self) -> None:
        # Otherwise start() would wait out its whole timeout on a port nobody listens on.
        running = LocalBroker.for_data_dir(self.data_dir)
        if running.port != self.port:
            raise BrokerError(
                f"the broker of {self.data_dir} already runs on {running.bootstrap_servers}, "
                f"not {self.bootstrap_servers}: stop it first to change its port"
            )

    def _check_jars(self) -> None:
        if not any(self.libs_dir.glob("kafka_2.13-*.jar")):
            raise KafkaJarsNotFoundError(
                f"Kafka jars not found in {self.libs_dir}: run `make setup`"
            )

    def _java_command(self, java: str, main_class: str, *args: str) -> list[str]:
        command = [java, *JVM_HEAP_OPTS, *JVM_OPTS, f"-Dkafka.logs.dir={self.data_dir}"]
        if self.log4j_config.is_file():
            command.append(f"-Dlog4j.configuration={self.log4j_config.resolve().as_uri()}")
        # The JVM expands "<dir>/*" itself to every jar in the dir (not a shell glob).
        return [*command, "-cp", f"{self.libs_dir}/*", main_class, *args]

    def _format_storage(self, java: str) -> None:
        # A formatted log dir holds the cluster id; formatting again would refuse or wipe it.
        if (self.log_dirs / "meta.properties").exists():
            return
        command = self._java_command(
            java,
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            random_cluster_id(),
            "--config",
            str(self.properties_file),
            *self.scram_arguments(),
        )
        result = subprocess.run(
            command, cwd=self.data_dir, capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise BrokerError(
                f"formatting the Kafka storage in {self.log_dirs} failed "
                f"(exit {result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def scram_arguments(self) -> list[str]:
        arguments = []
        for name, password in sorted(self.sasl_users.items()):
            for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
                arguments += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
        return arguments

    def _launch(self, java: str) -> subprocess.Popen[bytes]:
        command = self._java_command(java, "kafka.Kafka", str(self.properties_file))
        with self.console_log_file.open("ab") as console:
            # A session of its own keeps the broker alive after the CLI exits and out of the
            # way of a Ctrl-C meant for the terminal's foreground job.
            process = subprocess.Popen(
                command,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent if self.stop_with_parent else None,
            )
        self._process = process
        self.pid_file.write_text(f"{process.pid}\n", encoding="utf-8")
        return process

    def _alive(self, pid: int) -> bool:
        # A child of this process stays a zombie until reaped: ask Popen rather than the kernel.
        if self._process is not None and self._process.pid == pid:
            return self._process.poll() is None
        return _pid_alive(pid)

    def _wait_until_ready(self, pid: int, deadline: float) -> None:
        while True:
            if not self._alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise BrokerError(
                    f"the Kafka broker (pid {pid}) exited during start-up.\n{self.log_tail()}"
                )
            if _port_open(self.host, self.port) and _broker_answers_metadata(self.host, self.port):
                return
            if time.monotonic() >= deadline:
                raise BrokerError(
                    f"the Kafka broker (pid {pid}) did not answer on {self.bootstrap_servers} "
                    f"in time.\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def _terminate(self, pid: int, grace: float) -> None:
        # The broker leads its own process group; signalling the group also reaches anything
        # the JVM may have forked.
        _signal_group(pid, signal.SIGTERM)
        if not self._wait_for_exit(pid, grace):
            _signal_group(pid, signal.SIGKILL)
            self._wait_for_exit(pid, 10.0)
        self.pid_file.unlink(missing_ok=True)

    def _wait_for_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True


# -- Java ------------------------------------------------------------------------------------


@cache
def find_java() -> str:
    """The ``java`` executable (``JAVA_HOME`` first, then ``PATH``), checked to be 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    candidate = Path(java_home) / "bin" / "java" if java_home else None
    java = str(candidate) if candidate and candidate.is_file() else shutil.which("java")
    if java is None:
        raise JavaNotFoundError(
            f"java not found (neither JAVA_HOME nor PATH has one): the local Kafka broker needs "
            f"Java {MIN_JAVA_MAJOR} or newer (Debian: apt-get install openjdk-17-jre-headless)"
        )
    major = java_major_version(java)
    if major < MIN_JAVA_MAJOR:
        raise JavaNotFoundError(
            f"{java} is Java {major}, the local Kafka broker needs Java {MIN_JAVA_MAJOR} or newer"
        )
    return java


def java_major_version(java: str) -> int:
    """The major version of a ``java`` executable (8 for ``1.8.0_392``, 17 for ``17.0.15``)."""
    result = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False, timeout=30
    )
    version = parse_java_version(result.stderr + result.stdout)
    if version is None:
        raise JavaNotFoundError(f"could not tell the version of {java}: {result.stderr.strip()}")
    return version


def parse_java_version(output: str) -> int | None:
    """The major version in the output of ``java -version``, or None if there is none."""
    match = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if match is None:
        return None
    first, second = int(match.group(1)), match.group(2)
    # Up to Java 8 the major version came second: "1.8.0_392".
    return int(second) if first == 1 and second is not None else first


# -- small helpers ---------------------------------------------------------------------------


def random_cluster_id() -> str:
    """A cluster id in Kafka's format: a random UUID, base64url without padding.

    Generated here rather than by ``StorageTool random-uuid``, which would cost another JVM
    start. Like Kafka, ids starting with "-" are avoided (they read as a command-line option).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def read_properties(path: Path) -> dict[str, str]:
    """The key=value pairs of a simple Java properties file (empty if the file is missing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    properties = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith(("#", "!")) and "=" in stripped:
            key, value = stripped.split("=", 1)
            properties[key.strip()] = value.strip()
    return properties


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _is_stack_frame(line: str) -> bool:
    return line.startswith("\tat ") or (line.startswith("\t... ") and line.endswith(" more"))


def _tail(text: str, lines: int) -> str:
    kept = [line for line in text.splitlines() if not _is_stack_frame(line)]
    return "\n".join(kept[-lines:])


def _error_summary(text: str, limit: int = 3) -> str:
    """The first ERROR/FATAL lines, each with the exception message logged right after it.

    The root cause (say, a port in use) is usually the first error; the tail of the log only
    shows the shutdown it triggered.
    """
    lines = text.splitlines()
    found: list[str] = []
    for index, line in enumerate(lines):
        if len(found) >= limit:
            break
        if re.match(r"\[[^\]]+\] (ERROR|FATAL) ", line):
            message = lines[index + 1] if index + 1 < len(lines) else ""
            starts_entry = message.startswith("[") or _is_stack_frame(message)
            found.append(line if starts_entry or not message else f"{line}\n{message}")
    return "\n".join(found)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    # The state follows the parenthesised command name, which may itself hold spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def _is_broker_process(pid: int) -> bool:
    """Whether ``pid`` still is a Kafka broker, not a process that reused a stale pid."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (not Linux): the pid alone has to do
    return b"kafka.Kafka" in cmdline


def _die_with_parent() -> None:
    # Runs in the forked child before exec; PR_SET_PDEATHSIG survives the exec into java.
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        # Not a group leader we may signal (e.g. started by an older version): the process only.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _broker_answers_metadata(host: str, port: int) -> bool:
    """Whether the broker answers a Metadata request listing at least one broker.

    The port opens before the broker has registered with its controller; only then does it
    list itself in metadata and accept topic creation, so the port alone is not enough.
    """
    client_id = b"kpi-pipeline-readiness"
    correlation_id = 1
    request = (
        struct.pack(">hhi", _METADATA_API_KEY, _METADATA_API_VERSION, correlation_id)
        + struct.pack(">h", len(client_id))
        + client_id
        + struct.pack(">i", 0)  # an empty topic list: brokers only
    )
    try:
        with socket.create_connection((host, port), timeout=2.0) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            size = struct.unpack(">i", _recv_exactly(sock, 4))[0]
            response = _recv_exactly(sock, size)
    except (OSError, struct.error):
        return False
    if len(response) < 8:
        return False
    answered_id, broker_count = struct.unpack(">ii", response[:8])
    return bool(answered_id == correlation_id and broker_count > 0)


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed by the broker")
        data.extend(chunk)
    return bytes(data)


# -- topics ----------------------------------------------------------------------------------


async def ensure_topics(
    bootstrap: str,
    names: list[str],
    partitions: int,
    replication_factor: int = 1,
    timeout: float = 30.0,
    configs: Mapping[str, str] | None = None,
    client: Mapping[str, Any] | None = None,
) -> None:
    """Create the topics in ``names`` that do not exist yet, and wait until they have leaders.

    ``configs`` are topic settings for the topics created here (e.g. ``retention.ms``);
    ``client`` are extra admin client arguments (security: ``pipeline.kafka.security``).

    Existing topics are left as they are (even with another partition count). Waiting for the
    leaders spares producers that start right after a burst of LEADER_NOT_AVAILABLE retries.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **dict(client or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if missing:
            new_topics = [
                NewTopic(name, partitions, replication_factor, topic_configs=dict(configs or {}))
                for name in missing
            ]
            response = await admin.create_topics(new_topics, timeout_ms=int(timeout * 1000))
            _raise_topic_errors(response.to_object()["topic_errors"])
        await _wait_for_leaders(admin, names, timeout)
    finally:
        await admin.close()


def _raise_topic_errors(topic_errors: list[dict[str, object]]) -> None:
    for entry in topic_errors:
        code = entry["error_code"]
        if not isinstance(code, int) or code == 0:
            continue
        error = for_code(code)
        # Another client (the worker, the simulator) may have created it in the meantime.
        if error is TopicAlreadyExistsError:
            continue
        raise error(f"creating topic {entry['topic']!r}: {entry.get('error_message') or ''}")


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        topics = await admin.describe_topics(names)
        if all(_has_leaders(topic) for topic in topics) and len(topics) == len(names):
            return
        if time.monotonic() >= deadline:
            raise BrokerError(f"topics {names} got no partition leaders within {timeout}s")
        await asyncio.sleep(0.1)


def _has_leaders(topic: dict[str, object]) -> bool:
    partitions = topic.get("partitions")
    return (
        topic.get("error_code") == 0
        and isinstance(partitions, list)
        and bool(partitions)
        and all(isinstance(p, dict) and p.get("leader", -1) >= 0 for p in partitions)
    )
