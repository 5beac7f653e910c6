"""The Grafana boards and their provisioning, checked by reading them: the generated JSON is
valid and up to date, panel ids are unique, every panel and variable reads the provisioned
datasource, every variable a query uses is defined, and docker-compose.yml mounts the
provisioning where the provider looks. (The integration tests run every query against a real
Prometheus.)

Each check returns a list of problems and is also run on a deliberately wrong input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.core.kpis import KpiClass, catalogue
from pipeline.dashboards import DATASOURCE_UID, all_boards, check, rendered
from tests.grafana import (
    BUILTINS,
    DASHBOARD_DIR,
    load_boards,
    panels,
    parse_label_values,
    queries,
    references,
    variable_query,
    variables,
)
from tests.unit.deploy.test_compose import (
    PROMETHEUS,
    PROMETHEUS_CONFIG,
    REPO,
    Compose,
    environment,
    parse_port,
    services,
    volume_mounts,
)

PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
GRAFANA = "grafana"

Board = dict[str, Any]


@pytest.fixture(scope="module")
def boards() -> dict[str, Board]:
    return load_boards()


@pytest.fixture(scope="module")
def compose() -> Compose:
    loaded: Compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    return loaded


def datasource_of(provisioning: Path = PROVISIONING) -> dict[str, Any]:
    (source,) = yaml.safe_load(
        (provisioning / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    )["datasources"]
    assert isinstance(source, dict)
    return source


def board_problems(name: str, board: Board, uid: str) -> list[str]:
    problems = []
    ids = [panel.get("id") for panel in panels(board)]
    duplicated = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    if duplicated or None in ids:
        problems.append(f"{name}: panel ids not unique: {duplicated or 'missing'}")
    defined = {v["name"] for v in variables(board)} | BUILTINS
    for variable in variables(board):
        if variable.get("datasource", {}).get("uid") != uid:
            problems.append(f"{name}: variable {variable['name']} does not use datasource {uid}")
        try:
            parse_label_values(variable_query(variable))
        except ValueError as err:
            problems.append(f"{name}: variable {variable['name']}: {err}")
    for panel in panels(board):
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "")
        sources = [panel.get("datasource")] + [t.get("datasource") for t in panel["targets"]]
        if any((s or {}).get("uid") != uid for s in sources):
            problems.append(f"{name}: panel {title!r} does not use datasource {uid}")
        if not panel.get("targets"):
            problems.append(f"{name}: panel {title!r} has no query")
        texts = [title, *(t["expr"] for t in panel["targets"])]
        for missing in sorted(set().union(*map(references, texts)) - defined):
            problems.append(f"{name}: panel {title!r} uses undefined variable ${missing}")
    return problems


def test_the_dashboard_files_are_generated_from_the_code() -> None:
    assert check() == []
    assert sorted(rendered()) == sorted(p.name for p in DASHBOARD_DIR.glob("*.json"))


def test_the_drift_check_catches_an_edited_and_a_stray_file(tmp_path: Path) -> None:
    for name, text in rendered().items():
        (tmp_path / name).write_text(text)
    assert check(tmp_path) == []
    edited = next(iter(rendered()))
    (tmp_path / edited).write_text(rendered()[edited].replace("kpi_value", "kpi_valu"))
    (tmp_path / "old-board.json").write_text("{}")
    assert check(tmp_path) == [edited, "old-board.json"]


def test_every_board_is_valid_and_reads_the_provisioned_datasource(
    boards: dict[str, Board],
) -> None:
    uid = datasource_of()["uid"]
    assert uid == DATASOURCE_UID
    assert len(boards) == 8
    uids = [board["uid"] for board in boards.values()]
    assert len(set(uids)) == len(uids), "dashboard uids must be unique"
    for name, board in boards.items():
        assert board_problems(name, board, uid) == []
        assert queries(name, board), name


def test_the_board_check_rejects_wrong_boards(boards: dict[str, Board]) -> None:
    board = copy.deepcopy(boards["kpi-drill-down.json"])
    assert board_problems("b", board, DATASOURCE_UID) == []
    target_panel = next(p for p in panels(board) if p["type"] != "row")
    target_panel["id"] = next(p for p in panels(board) if p is not target_panel)["id"]
    target_panel["targets"][0]["expr"] += ' and on() kpi_value{team="$squad"}'
    target_panel["targets"][0]["datasource"] = {"type": "prometheus", "uid": "other"}
    board["templating"]["list"][0]["datasource"] = {"uid": "other"}
    problems = board_problems("b", board, DATASOURCE_UID)
    assert len(problems) == 4, problems
    assert any("$squad" in p for p in problems)


def test_variables_for_service_window_and_kpi(boards: dict[str, Board]) -> None:
    names = {v["name"] for board in boards.values() for v in variables(board)}
    assert {"service", "window", "kpi", "team", "channel", "priority"} <= names
    drill = {v["name"] for v in variables(boards["kpi-drill-down.json"])}
    assert {"team", "channel", "priority", "service", "kpi", "window"} <= drill


def test_the_overview_keeps_service_value_and_process_apart(boards: dict[str, Board]) -> None:
    """Two rows, one per class, each holding exactly the KPIs of its class."""
    board = boards["kpi-overview.json"]
    rows: dict[str, set[str]] = {}
    current = ""
    for panel in panels(board):
        if panel["type"] == "row":
            current = panel["title"]
            rows[current] = set()
            continue
        for target in panel["targets"]:
            rows[current].update(_kpis_named(target["expr"]))
    by_class = {
        cls: {k.name for k in catalogue() if k.kpi_class is cls}
        for cls in (KpiClass.SERVICE, KpiClass.PROCESS)
    }
    service_row, process_row = (
        next(kpis for title, kpis in rows.items() if title.lower().startswith(prefix))
        for prefix in ("service value", "process")
    )
    assert service_row == by_class[KpiClass.SERVICE]
    assert process_row == by_class[KpiClass.PROCESS]


def _kpis_named(expr: str) -> set[str]:
    names = {k.name for k in catalogue()}
    return {n for n in names if f'"{n}"' in expr or f"|{n}|" in f"|{_regex(expr)}|"}


def _regex(expr: str) -> str:
    start = expr.find('kpi=~"')
    return expr[start + 6 : expr.index('"', start + 6)] if start >= 0 else ""


def test_the_gap_board_draws_the_objective_on_the_series(boards: dict[str, Board]) -> None:
    board = boards["kpi-gap-vs-target.json"]
    drawn = [
        p
        for p in panels(board)
        if p["type"] == "timeseries"
        and any(t["expr"].startswith("kpi_value") for t in p["targets"])
        and any(t["expr"].startswith("kpi_target_objective") for t in p["targets"])
    ]
    assert len(drawn) == 1
    objective_ref = next(
        t["refId"] for t in drawn[0]["targets"] if t["expr"].startswith("kpi_target_objective")
    )
    (override,) = drawn[0]["fieldConfig"]["overrides"]
    assert override["matcher"] == {"id": "byFrameRefID", "options": objective_ref}


def test_the_generated_json_is_what_the_code_builds() -> None:
    for name, board in all_boards().items():
        on_disk = json.loads((DASHBOARD_DIR / name).read_text(encoding="utf-8"))
        assert on_disk["panels"] == board["panels"], name


# --- provisioning and compose --------------------------------------------------------------------


def grafana_problems(compose: Compose, provisioning: Path = PROVISIONING) -> list[str]:
    """Grafana's mounts must put the provisioning at /etc/grafana/provisioning and the
    dashboards where the provider looks; the datasource must reach the prometheus service."""
    svc = services(compose).get(GRAFANA)
    if svc is None:
        return [f"no {GRAFANA} service"]
    problems = []
    binds = {target: source for kind, source, target in volume_mounts(svc) if kind == "bind"}
    by_source = {(REPO / s).resolve(): t for t, s in binds.items()}
    if by_source.get(provisioning.resolve()) != "/etc/grafana/provisioning":
        problems.append("deploy/grafana/provisioning is not mounted at /etc/grafana/provisioning")
    for provider_file in sorted((provisioning / "dashboards").glob("*.yml")):
        for provider in yaml.safe_load(provider_file.read_text(encoding="utf-8"))["providers"]:
            path = provider["options"]["path"]
            if by_source.get(DASHBOARD_DIR.resolve()) != path:
                problems.append(f"provider {provider['name']}: {path} is not where the boards are")
    url = datasource_of(provisioning)["url"]
    prometheus = services(compose).get(PROMETHEUS, {})
    published = {parse_port(p).container_port for p in prometheus.get("ports") or []}
    host, _, port = url.removeprefix("http://").partition(":")
    if host != PROMETHEUS or port not in published:
        problems.append(f"datasource url {url} is not the {PROMETHEUS} service's port")
    # Grafana's $__rate_interval assumes this scrape interval: it must be Prometheus' own.
    interval = datasource_of(provisioning).get("jsonData", {}).get("timeInterval")
    scrape = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))["global"]
    if interval != scrape["scrape_interval"]:
        problems.append(f"datasource timeInterval {interval} is not {scrape['scrape_interval']}")
    home = environment(svc).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    dashboards_in_container = by_source.get(DASHBOARD_DIR.resolve(), "")
    if home is not None and not (
        home.startswith(dashboards_in_container + "/")
        and (DASHBOARD_DIR / Path(home).name).exists()
    ):
        problems.append(f"home dashboard {home} is not one of the mounted boards")
    return problems


def test_compose_provisions_grafana_with_the_files_in_deploy(compose: Compose) -> None:
    assert grafana_problems(compose) == []
    ports = [parse_port(p) for p in services(compose)[GRAFANA]["ports"]]
    assert [(p.host_ip, p.container_port) for p in ports] == [("127.0.0.1", "3000")]


def test_the_grafana_check_rejects_wrong_mounts(compose: Compose, tmp_path: Path) -> None:
    grafana = services(compose)[GRAFANA]
    wrong_mounts = {
        **grafana,
        "volumes": [
            "./deploy/grafana/provisioning:/etc/grafana/provisioning-old:ro",
            "./deploy/grafana/dashboards:/var/lib/grafana/other:ro",
        ],
    }
    wrong = {"services": {**services(compose), GRAFANA: wrong_mounts}}
    assert len(grafana_problems(wrong)) == 3
    # A datasource pointing at a host that is not the prometheus service.
    copied = tmp_path / "provisioning"
    for path in PROVISIONING.rglob("*.yml"):
        target = copied / path.relative_to(PROVISIONING)
        target.parent.mkdir(parents=True, exist_ok=True)
        text = path.read_text().replace("prometheus:9090", "localhost:9090")
        target.write_text(text.replace("timeInterval: 15s", "timeInterval: 30s"))
    problems = grafana_problems(compose, copied)
    assert any("datasource url" in p for p in problems), problems
    assert any("timeInterval 30s" in p for p in problems), problems


def test_the_worker_in_compose_alerts_on_the_targets_in_deploy(compose: Compose) -> None:
    worker = services(compose)["worker"]
    path = environment(worker)["KPI_TARGETS_FILE"]
    binds = {target: source for kind, source, target in volume_mounts(worker) if kind == "bind"}
    assert (REPO / binds[path]).resolve() == (REPO / "deploy" / "targets.yaml").resolve()


def test_each_budget_has_panels_and_benchmarks_draw_reference_lines(
    boards: dict[str, Board],
) -> None:
    from pipeline.dashboards.references import shipped_targets

    budgets = boards["kpi-error-budgets.json"]
    exprs = [t["expr"] for p in panels(budgets) if p["type"] != "row" for t in p["targets"]]
    for budget in shipped_targets().budgets:
        own = f'budget="{budget.id}"'
        assert f"budget:kpi_error_budget_remaining:period{{{own}}}" in exprs
        assert f"budget:kpi_burn_rate:1h{{{own}}}" in exprs
    overview = {p["title"]: p for p in panels(boards["kpi-overview.json"])}
    marked = {b.kpi for b in shipped_targets().benchmarks}
    assert marked == {"fcr_rate"}
    for title, panel in overview.items():
        lines = [t["expr"] for t in panel.get("targets", []) if "kpi_benchmark" in t["expr"]]
        assert bool(lines) == (title in marked), title
