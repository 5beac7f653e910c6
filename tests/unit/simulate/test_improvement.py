"""``--improvement``: a known change of one service relative to its behaviour otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from click.testing import CliRunner

from pipeline.simulate.cli import simulate
from pipeline.simulate.model import SimConfig, SimImprovement, generate

START = datetime(2026, 3, 2, tzinfo=UTC)


def test_parse() -> None:
    change = SimImprovement.parse(
        "service=network,start=+1d,fcr=+0.1,csat=-0.05,reopen=-0.02,rf=0.8", START
    )
    assert change == SimImprovement(
        "network", START + timedelta(days=1), fcr=0.1, csat=-0.05, reopen=-0.02,
        resolution_factor=0.8,
    )  # fmt: skip
    for text, problem in (
        ("service=network,start=+1d", "needs fcr"),
        ("service=network,fcr=+2", "within -1..+1"),
        ("service=network,fcr=+0.1,colour=red", "unknown improvement field"),
        ("fcr=+0.1", "names no service"),
    ):
        with pytest.raises(ValueError, match=problem):
            SimImprovement.parse(text, START)


def _csat_share(config: SimConfig) -> tuple[float, int]:
    scores = [
        v["score"]
        for r in generate(config)
        if r.topic == "surveys" and (v := orjson.loads(r.value))["kind"] == "csat"
    ]
    return sum(s >= 4 for s in scores) / len(scores), len(scores)


def test_an_improvement_that_never_applies_changes_no_record() -> None:
    base = SimConfig(seed=4, start=START, duration=timedelta(hours=12))
    later = SimImprovement("network", START + timedelta(days=30), fcr=0.2, csat=-0.3)
    with_change = SimConfig(
        seed=4, start=START, duration=timedelta(hours=12), improvements=(later,)
    )
    assert list(generate(with_change)) == list(generate(base))


def test_the_csat_shift_is_the_stated_one() -> None:
    def desk(*changes: SimImprovement) -> SimConfig:
        return SimConfig(
            seed=2,
            start=START,
            duration=timedelta(days=4),
            services=("network",),
            tickets_per_hour=150.0,
            improvements=changes,
        )

    before, n = _csat_share(desk())
    after, m = _csat_share(desk(SimImprovement("network", START, csat=-0.10)))
    # About 4,000 surveys on each side: the shift is -0.10 within 4 standard errors.
    se = (before * (1 - before) / n + after * (1 - after) / m) ** 0.5
    assert n > 3000 and abs((after - before) + 0.10) < 4 * se


def test_the_cli_takes_improvements() -> None:
    runner = CliRunner()
    args = ["--dry-run", "--duration", "2h", "--seed", "1"]
    plain = runner.invoke(simulate, args)
    changed = runner.invoke(simulate, [*args, "--improvement", "service=network,fcr=+0.2"])
    assert plain.exit_code == 0 and changed.exit_code == 0, changed.output
    assert plain.output != changed.output
    bad = runner.invoke(simulate, [*args, "--improvement", "service=nowhere,fcr=+0.2"])
    assert bad.exit_code == 2 and "unknown service" in bad.output
