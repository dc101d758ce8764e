#!/bin/sh
# The image's entrypoint: the first argument names the process kind (see the Dockerfile).
set -eu
cd /app
kind=${1:-web}
[ $# -gt 0 ] && shift
case "$kind" in
  web)
    # -v 0: Django writes the access log as JSON lines (LOG_ACCESS); the backlog takes a join
    # storm's burst of connections (docs/operations.md, "Join storms").
    exec daphne -v 0 -e "tcp:port=$WEB_PORT:interface=$WEB_BIND:backlog=${WEB_BACKLOG:-4096}" \
      --proxy-headers clubhouse.asgi:application "$@" ;;
  relay)
    exec python manage.py relay "$@" ;;
  worker)
    # -q: no start-up banner; the level comes from LOG_LEVEL (docs/operations.md, "Logs and errors")
    exec celery -A clubhouse -q worker "$@" ;;
  beat)
    exec celery -A clubhouse -q beat "$@" ;;
  migrate)
    exec python manage.py migrate --noinput "$@" ;;
  *)
    if command -v "$kind" >/dev/null 2>&1; then
      exec "$kind" "$@"
    fi
    exec python manage.py "$kind" "$@" ;;
esac
