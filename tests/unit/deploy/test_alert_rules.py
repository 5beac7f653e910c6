"""Alerting, checked with the real tools: the Prometheus alerting rules (`promtool check rules`),
their unit tests in deploy/prometheus/tests (`promtool test rules`), and the Alertmanager config
(`amtool check-config`, `amtool config routes test`, and a real Alertmanager for inhibition).

promtool comes with the Debian package prometheus, amtool and prometheus-alertmanager with
prometheus-alertmanager (`make system-packages` installs both); a test needing a missing binary
is skipped with the reason. Each structural check is a function returning a list of problems,
run on the real files and on a deliberately wrong input, so a check that could never fail would
be caught too.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
RULES_DIR = PROMETHEUS_DIR / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml")) + sorted(RULES_DIR.glob("*.yaml"))
RULE_TESTS_DIR = PROMETHEUS_DIR / "tests"
RULE_TEST_FILES = sorted(RULE_TESTS_DIR.glob("*.yml")) + sorted(RULE_TESTS_DIR.glob("*.yaml"))
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
ALERTS_DOC = REPO / "docs" / "alerts.md"

# The alerts docs/alerts.md, the Alertmanager routes and the lead's wiring rely on.
EXPECTED_ALERTS = {
    "KpiTargetBreached",
    "KpiDrift",
    "KpiWorkerDown",
    "KpiWorkerAbsent",
    "KpiConsumerLagHigh",
    "KpiRejectedRecordsHigh",
    "KpiLateEventsHigh",
    "KpiWindowsNotClosing",
    "KpiErrorBudgetBurn",
    "KpiForecastBreach",
}
KPI_ALERTS = {"KpiTargetBreached", "KpiDrift", "KpiForecastBreach"}

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
ALERTMANAGER = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian package prometheus; `make system-packages`)",
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None,
    reason="amtool is not installed (Debian package prometheus-alertmanager; "
    "`make system-packages`)",
)
needs_alertmanager = pytest.mark.skipif(
    ALERTMANAGER is None,
    reason="Alertmanager is not installed (Debian package prometheus-alertmanager; "
    "`make system-packages`)",
)


def run(tool: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    assert tool is not None
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


# --- reading rules and rule tests ----------------------------------------------------------------


def alerting_rules(rule_files: list[Path]) -> dict[str, dict[str, Any]]:
    """Alerting rules by name, from every group of every file."""
    return {
        rule["alert"]: rule
        for path in rule_files
        for group in load_yaml(path)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def alert_cases(test_docs: list[dict[str, Any]]) -> Iterator[tuple[str, list[Any]]]:
    """(alertname, exp_alerts) of every alert_rule_test; a missing exp_alerts means none fire."""
    for doc in test_docs:
        for test in doc.get("tests") or []:
            for case in test.get("alert_rule_test") or []:
                yield case["alertname"], case.get("exp_alerts") or []


def coverage_problems(alert_names: set[str], test_docs: list[dict[str, Any]]) -> list[str]:
    """Every alert needs a case where it fires and one where it must stay quiet; a test of an
    alert that does not exist is a typo (promtool would just see it not fire)."""
    fires = {name for name, expected in alert_cases(test_docs) if expected}
    quiet = {name for name, expected in alert_cases(test_docs) if not expected}
    problems = [f"{name}: no test where it fires" for name in sorted(alert_names - fires)]
    problems += [f"{name}: no test where it stays quiet" for name in sorted(alert_names - quiet)]
    problems += [f"{name}: tested but not a rule" for name in sorted((fires | quiet) - alert_names)]
    return problems


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_problems(rules: dict[str, dict[str, Any]], doc: str) -> list[str]:
    """Each alert's runbook_url points at its own section of docs/alerts.md, which exists."""
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", doc, flags=re.MULTILINE)}
    problems = []
    for name, rule in sorted(rules.items()):
        url = (rule.get("annotations") or {}).get("runbook_url", "")
        path, _, anchor = url.partition("#")
        if path != "docs/alerts.md" or anchor != github_anchor(name):
            problems.append(f"{name}: runbook_url {url!r} is not docs/alerts.md#{name.lower()}")
        elif anchor not in anchors:
            problems.append(f"{name}: docs/alerts.md has no section {name}")
        for key in ("summary", "description"):
            if not (rule.get("annotations") or {}).get(key):
                problems.append(f"{name}: no {key} annotation")
        if "severity" not in (rule.get("labels") or {}):
            problems.append(f"{name}: no severity label (Alertmanager routes on it)")
    return problems


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    return alerting_rules(RULE_FILES)


@pytest.fixture(scope="module")
def rule_test_docs() -> list[dict[str, Any]]:
    return [load_yaml(path) for path in RULE_TEST_FILES]


def test_the_expected_alerts_are_defined(rules: dict[str, dict[str, Any]]) -> None:
    assert set(rules) == EXPECTED_ALERTS


def test_kpi_alerts_forward_the_workers_firing_state_without_a_wall_clock_hold(
    rules: dict[str, dict[str, Any]],
) -> None:
    # The worker holds breaches in event time; a Prometheus `for` would add wall-clock delay.
    for name in KPI_ALERTS:
        assert rules[name].get("for", "0m") in {"0m", "0s", "0"}, name
        assert re.search(r"kpi_alert_state\{[^}]*\}\s*==\s*2\b", rules[name]["expr"]), name


def test_every_alert_is_tested_firing_and_quiet(
    rules: dict[str, dict[str, Any]], rule_test_docs: list[dict[str, Any]]
) -> None:
    assert RULE_TEST_FILES, f"no rule test files in {RULE_TESTS_DIR}"
    assert coverage_problems(set(rules), rule_test_docs) == []


def test_the_coverage_check_rejects_missing_and_unknown_cases() -> None:
    docs = [
        {
            "tests": [
                {
                    "alert_rule_test": [
                        {"alertname": "A", "exp_alerts": [{"exp_labels": {}}]},
                        {"alertname": "A", "exp_alerts": []},
                        {"alertname": "B", "exp_alerts": [{"exp_labels": {}}]},
                        {"alertname": "Typo"},
                    ]
                }
            ]
        }
    ]
    assert coverage_problems({"A", "B", "C"}, docs) == [
        "C: no test where it fires",
        "B: no test where it stays quiet",
        "C: no test where it stays quiet",
        "Typo: tested but not a rule",
    ]
    assert coverage_problems({"A"}, []) == [
        "A: no test where it fires",
        "A: no test where it stays quiet",
    ]


def test_every_alert_has_a_runbook_section_and_a_severity(
    rules: dict[str, dict[str, Any]],
) -> None:
    assert runbook_problems(rules, ALERTS_DOC.read_text(encoding="utf-8")) == []


def test_the_runbook_check_rejects_missing_sections_and_labels() -> None:
    rule = {
        "annotations": {"summary": "s", "description": "d", "runbook_url": "docs/alerts.md#a"},
        "labels": {"severity": "warning"},
    }
    assert runbook_problems({"A": rule}, "## A\n") == []
    assert runbook_problems({"A": rule}, "## B\n") == ["A: docs/alerts.md has no section A"]
    assert runbook_problems({"B": rule}, "## B\n") != []
    assert runbook_problems({"A": {**rule, "labels": {}}}, "## A\n") != []
    assert runbook_problems({"A": {**rule, "annotations": {}}}, "## A\n") != []


# --- promtool ------------------------------------------------------------------------------------


@needs_promtool
@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.name)
def test_promtool_accepts_the_rule_file(rule_file: Path) -> None:
    result = run(PROMTOOL, "check", "rules", str(rule_file))
    assert result.returncode == 0, output(result)


@needs_promtool
def test_promtool_rejects_a_broken_alert_template(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n"
        "        annotations:\n          summary: '{{ $labels.instance '\n",
        encoding="utf-8",
    )
    assert run(PROMTOOL, "check", "rules", str(bad)).returncode != 0


def test_there_are_rule_tests() -> None:
    # The parametrized test below would pass vacuously on an empty folder.
    assert RULE_TEST_FILES, f"no rule test files in {RULE_TESTS_DIR}"


@needs_promtool
@pytest.mark.parametrize("test_file", RULE_TEST_FILES, ids=lambda p: p.name)
def test_the_rule_unit_tests_pass(test_file: Path) -> None:
    result = run(PROMTOOL, "test", "rules", str(test_file))
    assert result.returncode == 0, output(result)
    assert "SUCCESS" in result.stdout


def copy_with_silenced_alert(tmp_path: Path, alert: str) -> list[Path]:
    """The rules and rule tests, copied with one alert's expression replaced by one that never
    returns anything (the rule files are found by the tests' relative paths, as in the repo)."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    for path in RULE_FILES:
        doc = load_yaml(path)
        for group in doc["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert:
                    rule["expr"] = "vector(1) > 2"
        (tmp_path / "rules" / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
    copies = []
    for path in RULE_TEST_FILES:
        copies.append(tmp_path / "tests" / path.name)
        shutil.copyfile(path, copies[-1])
    return copies


@needs_promtool
@pytest.mark.parametrize("alert", sorted(EXPECTED_ALERTS))
def test_the_rule_tests_fail_when_an_alert_never_fires(tmp_path: Path, alert: str) -> None:
    copies = copy_with_silenced_alert(tmp_path, alert)
    result = run(PROMTOOL, "test", "rules", *map(str, copies))
    assert result.returncode != 0, output(result)
    assert alert in output(result)


# --- Alertmanager --------------------------------------------------------------------------------


@needs_amtool
def test_amtool_accepts_the_alertmanager_config() -> None:
    result = run(AMTOOL, "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, output(result)


@needs_amtool
def test_amtool_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(
        ALERTMANAGER_CONFIG.read_text(encoding="utf-8").replace(
            "receiver: pager", "receiver: pagr"
        ),
        encoding="utf-8",
    )
    assert broken.read_text(encoding="utf-8") != ALERTMANAGER_CONFIG.read_text(encoding="utf-8")
    assert run(AMTOOL, "check-config", str(broken)).returncode != 0


ROUTES = [
    ({"alertname": "KpiTargetBreached", "severity": "critical", "kpi": "fcr_rate"}, "pager"),
    ({"alertname": "KpiTargetBreached", "severity": "warning", "kpi": "fcr_rate"}, "ops-chat"),
    ({"alertname": "KpiDrift", "severity": "warning"}, "ops-chat"),
    ({"alertname": "KpiWorkerDown", "severity": "critical", "job": "kpi-worker"}, "pager"),
    ({"alertname": "KpiConsumerLagHigh", "severity": "warning"}, "ops-chat"),
    # No or an unknown severity still reaches someone.
    ({"alertname": "Something"}, "ops-chat"),
    ({"alertname": "Something", "severity": "info"}, "ops-chat"),
]


def route_test(labels: dict[str, str], receiver: str) -> subprocess.CompletedProcess[str]:
    return run(
        AMTOOL,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        f"--verify.receivers={receiver}",
        *(f"{name}={value}" for name, value in labels.items()),
    )


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receiver"),
    ROUTES,
    ids=[f"{labels['alertname']}-{labels.get('severity', 'none')}" for labels, _ in ROUTES],
)
def test_alerts_route_by_severity(labels: dict[str, str], receiver: str) -> None:
    result = route_test(labels, receiver)
    assert result.returncode == 0, output(result)


@needs_amtool
def test_the_route_check_rejects_a_wrong_receiver() -> None:
    assert route_test({"alertname": "A", "severity": "critical"}, "nobody").returncode != 0


def test_the_rules_only_set_severities_that_have_a_route(
    rules: dict[str, dict[str, Any]],
) -> None:
    routed = {
        m.split("=", 1)[1].strip("\"'")
        for route in load_yaml(ALERTMANAGER_CONFIG)["route"].get("routes", [])
        for m in route.get("matchers", [])
        if m.startswith("severity=")
    }
    assert routed == {"critical", "warning"}
    static = {rule["labels"]["severity"] for rule in rules.values()} - {"{{ $labels.severity }}"}
    assert static <= routed, static - routed


def test_notifications_group_by_alert_kpi_service_and_window() -> None:
    route = load_yaml(ALERTMANAGER_CONFIG)["route"]
    assert route["group_by"] == ["alertname", "kpi", "service", "window"]
    for key in ("group_wait", "group_interval", "repeat_interval"):
        assert key in route, key


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    """A real Alertmanager with the repo config on a free loopback port, clustering off."""
    assert ALERTMANAGER is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "alertmanager.log").open("w")
    proc = subprocess.Popen(
        [
            ALERTMANAGER,
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail((tmp_path / "alertmanager.log").read_text(encoding="utf-8"))
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def post_alerts(url: str, alerts: list[dict[str, str]]) -> None:
    body = json.dumps([{"labels": labels} for labels in alerts]).encode()
    request = urllib.request.Request(
        f"{url}/api/v2/alerts", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def alert_states(url: str) -> dict[str, str]:
    """Alert name and job -> "active" or "suppressed" (inhibited or silenced)."""
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=5) as response:
        alerts = json.load(response)
    return {
        f"{a['labels']['alertname']}/{a['labels'].get('job', '')}": a["status"]["state"]
        for a in alerts
    }


def settled_states(url: str, expected: dict[str, str], timeout: float = 15) -> dict[str, str]:
    """The alert states once they are ``expected``, or as they are after ``timeout``:
    Alertmanager marks an alert inhibited when its inhibitor has seen the new alert, which can
    be after the post that added it has returned."""
    deadline = time.monotonic() + timeout
    while (states := alert_states(url)) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return states


@needs_alertmanager
def test_a_down_worker_inhibits_kpi_alerts_of_its_job(alertmanager: str) -> None:
    kpi_alerts = [
        {"alertname": "KpiTargetBreached", "job": "kpi-worker", "kpi": "fcr_rate"},
        {"alertname": "KpiDrift", "job": "kpi-worker", "kpi": "csat", "severity": "warning"},
        {"alertname": "KpiTargetBreached", "job": "other", "severity": "critical"},
        {"alertname": "KpiConsumerLagHigh", "job": "kpi-worker", "severity": "warning"},
    ]
    post_alerts(alertmanager, kpi_alerts)
    every_active = {f"{a['alertname']}/{a['job']}": "active" for a in kpi_alerts}
    assert settled_states(alertmanager, every_active) == every_active

    down = {"alertname": "KpiWorkerDown", "job": "kpi-worker", "instance": "worker:6066"}
    post_alerts(alertmanager, [{**down, "severity": "critical"}])
    suppressed = {
        "KpiWorkerDown/kpi-worker": "active",
        "KpiTargetBreached/kpi-worker": "suppressed",
        "KpiDrift/kpi-worker": "suppressed",
        # Another job's KPIs are not this worker's, and pipeline alerts still matter.
        "KpiTargetBreached/other": "active",
        "KpiConsumerLagHigh/kpi-worker": "active",
    }
    assert settled_states(alertmanager, suppressed) == suppressed
