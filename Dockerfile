# The kpi-pipeline image: one image, every sub-command (worker by default; simulate, replay, ...).
#
#   docker build -t kpi-pipeline:local .
#   docker run --rm kpi-pipeline:local --help
#
# The base tag is pinned to an exact Python patch release and Debian suite so a rebuild months
# from now gets the same interpreter; bump it on purpose (and re-run the tests), not by accident.
FROM python:3.11.13-slim-bookworm

# No .pyc files written at run time (site-packages is read-only for the app user anyway), logs
# unbuffered so `docker compose logs` shows them as they happen, no pip cache in the layer.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The compiled dependencies (faust-streaming, aiokafka, orjson) ship manylinux wheels for
# CPython 3.11 on amd64, so no compiler is installed (on another platform without wheels, add
# build-essential in a build stage). The source copy is deleted after the install: the
# package lives in site-packages, and nothing at run time reads the repository.
# README.md* is a glob on purpose: pyproject.toml names README.md as the package's readme, and
# the build must not fail in a checkout that does not have it (setuptools only warns then).
COPY pyproject.toml README.md* /tmp/src/
COPY pipeline /tmp/src/pipeline
RUN pip install /tmp/src && rm -rf /tmp/src

# Run as an unprivileged user with a fixed numeric id (so runtimes that enforce non-root can
# verify it). Its home holds the worker's data dir (Faust's local state), the only thing the
# process writes; KPI_DATA_DIR is absolute so it does not depend on the working directory.
RUN groupadd --system --gid 10001 kpi \
    && useradd --system --uid 10001 --gid kpi --home-dir /var/lib/kpi-pipeline --create-home \
       --shell /usr/sbin/nologin kpi
ENV KPI_DATA_DIR=/var/lib/kpi-pipeline
WORKDIR /var/lib/kpi-pipeline
USER 10001:10001

# /metrics of the worker. The worker binds 127.0.0.1 unless told otherwise (spec: web endpoints
# are loopback-only by default), which nothing outside the container can reach: to scrape or
# publish it, run with KPI_WEB__BIND=0.0.0.0 (docker-compose.yml does) and publish the port on
# the host's loopback, e.g. `-p 127.0.0.1:6066:6066`.
EXPOSE 6066

# Exec form: kpi-pipeline is the main process and gets `docker stop`'s SIGTERM itself (the worker
# handles it and shuts down cleanly; run with `--init` / compose `init: true` so that commands
# without a SIGTERM handler, such as simulate, stop at once too). No HEALTHCHECK here: the same
# image runs the simulator, which serves no HTTP; docker-compose.yml gives the worker its own.
ENTRYPOINT ["kpi-pipeline"]
CMD ["worker"]
