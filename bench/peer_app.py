"""The peer: the bench's KPI subset written with Quix Streams (run in its own virtualenv, so it
imports nothing of the pipeline).

Counts of created tickets and CSAT count and mean score per service, in 1 h tumbling event-time
windows with a 10 min grace period (the pipeline's allowed lateness), written the idiomatic way:
``group_by("service")`` (a repartition topic) and a windowed aggregation with changelog-backed
state. Prints one JSON line: records and seconds from the first record to the last aggregated.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from typing import Any

from quixstreams import Application
from quixstreams.dataframe.windows import Count, Mean


def main() -> int:
    bootstrap, tickets, surveys, total, subset, state_dir, group = sys.argv[1:8]
    want_in, want_subset = int(total), int(subset)
    seen = {"in": 0, "subset": 0}
    marks: dict[str, float] = {}

    def on_consumer_error(exc: BaseException | None, message: Any, logger: Any) -> bool:
        return True  # the stream's malformed records: skip, as a DLQ would

    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        processing_guarantee="at-least-once",
        on_consumer_error=on_consumer_error,
        loglevel="WARNING",
    )

    def count_in(value: Any) -> None:
        if "first" not in marks:
            marks["first"] = time.perf_counter()
            marks["cpu_first"] = time.process_time()
        seen["in"] += 1
        check()

    def count_subset(value: Any) -> None:
        seen["subset"] += 1
        check()

    def check() -> None:
        if seen["in"] >= want_in and seen["subset"] >= want_subset and "done" not in marks:
            marks["done"] = time.perf_counter()
            marks["cpu_done"] = time.process_time()
            app.stop()

    def created(v: Any) -> bool:
        return (
            isinstance(v, dict) and v.get("type") == "created" and isinstance(v.get("service"), str)
        )

    def csat(v: Any) -> bool:
        return (
            isinstance(v, dict)
            and v.get("kind") == "csat"
            and isinstance(v.get("service"), str)
            and isinstance(v.get("score"), int)
        )

    out = app.topic(f"{group}-out", value_serializer="json")
    window = timedelta(hours=1)
    grace = timedelta(minutes=10)

    t = app.dataframe(app.topic(tickets, value_deserializer="json"))
    t = t.update(count_in).filter(created).group_by("service").update(count_subset)
    t = t.tumbling_window(window, grace_ms=grace).agg(created=Count()).final()
    t.to_topic(out)

    s = app.dataframe(app.topic(surveys, value_deserializer="json"))
    s = s.update(count_in).filter(csat).group_by("service").update(count_subset)
    s = s.tumbling_window(window, grace_ms=grace).agg(n=Count(), mean=Mean("score")).final()
    s.to_topic(out)

    app.run()
    if "done" not in marks:
        print(json.dumps({"error": f"stopped early: {seen}"}))
        return 1
    seconds = marks["done"] - marks["first"]
    cpu = marks["cpu_done"] - marks["cpu_first"]
    print(
        json.dumps(
            {"records": want_in, "subset": want_subset, "seconds": seconds, "cpu_seconds": cpu}
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
