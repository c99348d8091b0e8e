# flatload as a container image. One image, three uses (see compose.yaml for all of them together):
#
#   a cron refresh:  podman run --rm -v /srv/flatload:/data -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#                        localhost/flatload flatload refresh --quiet
#   the dashboard:   podman run -d -p 127.0.0.1:8765:8765 -v /srv/flatload:/data -e FLATLOAD_TOKEN \
#                        localhost/flatload                       # = flatload serve --host 0.0.0.0
#   Dask:            podman run ... localhost/flatload dask scheduler --host 0.0.0.0 --port 8786
#                    podman run ... localhost/flatload dask worker tcp://SCHEDULER:8786 --nthreads 1
#
# Build (the context is this directory; .containerignore keeps it to what the package needs):
#
#   podman build -t localhost/flatload .                              # FROM python:3.11-slim (a registry)
#   scripts/image/build-base                                          # no registry: a base from Debian packages
#   podman build --build-arg BASE=localhost/flatload-base:bookworm -t localhost/flatload .
#
# CONSTRAINTS pins package versions (pip's constraints, "name==version" separated by spaces or newlines), e.g.
# the host's, so that a host-side Dask client (flatload load --cluster) and the image's workers agree:
#   --build-arg CONSTRAINTS="$(pip freeze | grep -iE '^(dask|distributed|cloudpickle|msgpack|tornado|polars|pyarrow|duckdb)==')"
#
# Behind a TLS-intercepting proxy, hand pip its CA bundle as a build secret (never stored in a layer):
#   --secret id=ca-certificates,src=/etc/ssl/certs/ca-certificates.crt
#
# The image runs as the user flatload (uid/gid 10001), with FLATLOAD_DATA_DIR=/data: mount the store there,
# writable by that uid (or run with --user of the store's owner). No compiler: every dependency is a wheel;
# no pip cache, and the dependencies' own test suites are left out.
ARG BASE=python:3.11-slim

# --- the wheel of this checkout, and its requirements (a layer of their own: the dependencies' layer below
#     is rebuilt only when they change, not at every change of the code)
FROM ${BASE} AS wheel
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sql/ sql/
COPY flatload/ flatload/
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi \
 && python3 -m venv /tmp/build \
 && /tmp/build/bin/pip wheel --quiet --no-deps --wheel-dir /wheels . \
 && /tmp/build/bin/python -c 'import email, pathlib, sys, zipfile; \
whl = zipfile.ZipFile(next(pathlib.Path("/wheels").glob("flatload-*.whl"))); \
meta = email.message_from_bytes(whl.read(next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA")))); \
print("\n".join(r for r in meta.get_all("Requires-Dist") or [] if "extra ==" not in r))' > /wheels/requirements.txt

# --- the image
FROM ${BASE}
ARG CONSTRAINTS=""
LABEL org.opencontainers.image.title="flatload" \
      org.opencontainers.image.description="Polygon/Massive S3 flat files into Parquet partitions and a DuckDB journal" \
      org.opencontainers.image.licenses="MIT"
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1 LANG=C.UTF-8 \
    PATH=/opt/flatload/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    FLATLOAD_DATA_DIR=/data
# tini as PID 1: signals reach flatload / dask (SIGTERM commits the finished days, exit 143), and the job
# processes flatload serve starts are reaped. The Debian base has it; python:*-slim gets it from apt.
RUN if ! command -v tini >/dev/null 2>&1; then \
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
 && useradd --uid 10001 --user-group --create-home --home-dir /home/flatload --shell /usr/sbin/nologin flatload \
 && install -d -o flatload -g flatload /data \
 && python3 -m venv /opt/flatload
COPY --from=wheel /wheels/requirements.txt /tmp/flatload-requirements.txt
RUN --mount=type=secret,id=ca-certificates \
    if [ -s /run/secrets/ca-certificates ]; then export PIP_CERT=/run/secrets/ca-certificates; fi \
 && printf '%s\n' $CONSTRAINTS > /tmp/constraints.txt \
 && pip install --quiet --only-binary=:all: -r /tmp/flatload-requirements.txt -c /tmp/constraints.txt \
 && find /opt/flatload/lib/python3*/site-packages -type d -name tests -prune -exec rm -rf {} + \
 && rm /tmp/flatload-requirements.txt /tmp/constraints.txt
RUN --mount=type=bind,from=wheel,source=/wheels,target=/tmp/wheels \
    pip install --quiet --no-deps /tmp/wheels/flatload-*.whl \
 && pip check \
 && flatload --help >/dev/null \
 && dask worker --help >/dev/null

USER flatload
WORKDIR /data
# 8765: flatload serve; 8786: dask scheduler (workers listen on ports of their own: --worker-port to fix one)
EXPOSE 8765 8786
ENTRYPOINT ["tini", "--"]
CMD ["flatload", "serve", "--host", "0.0.0.0"]
