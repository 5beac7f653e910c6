"""``python -m pipeline`` is the ``kpi-pipeline`` command."""

from pipeline.cli import main

main()
