# One image for every process kind; the command picks it (deploy/entrypoint.sh):
#   web     daphne (pages, API, WebSockets), port $WEB_PORT (8000)
#   relay   `manage.py relay`: one audio relay worker (run it on the host network: UDP)
#   worker  a Celery worker
#   beat    Celery beat (run exactly one)
#   migrate `manage.py migrate` (run once per release, before the others start)
# anything else runs as `manage.py <command>` (e.g. createsuperuser), or as a program if it is one.
#
# Python is Debian's python3 (3.11), so the base is the standard Debian image.

# --- build: the virtualenv, the relay's C send loop, the collected static files ----------------
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev gcc libc6-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Behind a TLS-intercepting proxy (some company networks), pass its CA certificate(s) as PEM text:
# --build-arg EXTRA_CA_CERTS="$(cat proxy-ca.crt)". They are trusted in this stage only.
ARG EXTRA_CA_CERTS=""
RUN if [ -n "$EXTRA_CA_CERTS" ]; then \
      printf '%s\n' "$EXTRA_CA_CERTS" >/usr/local/share/ca-certificates/build-extra.crt \
      && update-ca-certificates >/dev/null; \
    fi
# pip trusts Debian's CA bundle (the same public roots as its own, plus any added above).
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt
RUN python3 -m venv /opt/venv
# The requirements first: their layer is reused until the lock changes. The lock pins every
# package with PyPI's hashes (`make lock`), so the image holds exactly what the tests ran on.
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --no-cache-dir --disable-pip-version-check --require-hashes \
      -r /tmp/requirements.lock
WORKDIR /app
COPY . /app
# media_relay/_fastpath*.so: the relay's C send loop (media_relay/fastpath.c), built here so the
# relay never falls back to its Python loop in the image. -Werror: a warning fails the build.
RUN /opt/venv/bin/python -m media_relay.fastpath_build \
 && rm -rf build \
 && /opt/venv/bin/python -c "import media_relay._fastpath"
# Static files (whitenoise serves them from STATIC_ROOT); the key only satisfies settings here.
RUN DJANGO_SECRET_KEY=collectstatic-only /opt/venv/bin/python manage.py collectstatic --noinput -v 0

# --- runtime -----------------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 clubhouse \
 && useradd --system --uid 10001 --gid clubhouse --home-dir /app --shell /usr/sbin/nologin clubhouse \
 && mkdir -p /app/media && chown clubhouse:clubhouse /app/media
COPY --from=build /opt/venv /opt/venv
COPY --from=build /app /app
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    WEB_BIND=0.0.0.0 \
    WEB_PORT=8000
WORKDIR /app
USER clubhouse
EXPOSE 8000
# /livez of the web process (other kinds have no HTTP port: the check passes for them).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python3", "/app/deploy/healthcheck.py"]
ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
