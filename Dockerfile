# Herald CI's image: one image for the web server, a build worker and
# one-off manage.py commands.
#
#   docker build -t herald-ci .
#   docker run … herald-ci serve --no-worker   the web server (migrates first)
#   docker run … herald-ci qcluster            a build worker (needs a Docker engine)
#   docker run … herald-ci serve               both, as `make run` does
#   docker run … herald-ci <command>           any manage.py command (migrate, addrepo, createtoken…)
#
# docker-compose.yml runs it with PostgreSQL and Redis; README.md, "Run with
# Docker Compose". Debian's own Python (bookworm: 3.11) and git; Herald's
# packages from requirements.lock, every one checked against its hash.

FROM debian:bookworm-slim AS packages
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
# pip reads its settings from the environment, so a mirror or a folder of
# wheels can be used without editing this file:
#   --build-arg PIP_INDEX_URL=https://pypi.example.com/simple
#   --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=http://10.0.0.5:8080/
# (the latter: wheels fetched beforehand with `pip download --only-binary=:all:
# -r requirements.lock -d wheels`, served by any web server).
ARG PIP_INDEX_URL
ARG PIP_NO_INDEX
ARG PIP_FIND_LINKS
ARG PIP_TRUSTED_HOST
COPY requirements.lock /tmp/requirements.lock
RUN python3 -m venv /opt/herald \
    && /opt/herald/bin/pip install --no-cache-dir --disable-pip-version-check \
       --require-hashes --only-binary=:all: -r /tmp/requirements.lock \
    && /opt/herald/bin/pip uninstall -y -q pip setuptools

FROM debian:bookworm-slim
# git: GitPython clones with it. No compiler, no pip (the virtualenv is
# complete), no apt lists or caches.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 git ca-certificates \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \
    && useradd --system --uid 999 --user-group --home-dir /data --no-create-home herald \
    && install -d -o herald -g herald -m 0700 /data
COPY --from=packages /opt/herald /opt/herald
WORKDIR /app
# .dockerignore lets only the application in (no data, no tests, no .git).
COPY . /app
RUN python3 -m compileall -q /app \
    && chmod 0755 /app/deploy/docker-entrypoint.sh
ENV PATH=/opt/herald/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HERALD_DATA_DIR=/data \
    HERALD_BIND=0.0.0.0:8000
USER herald
EXPOSE 8000
# Ready: the database answers, every migration is applied, Redis answers.
# Only the web server listens: a worker's container turns this off.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
CMD ["serve"]
