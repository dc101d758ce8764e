#!/bin/sh
# The image's entrypoint: the first argument names the process kind (see the Dockerfile).
set -eu
cd /app
kind=${1:-web}
[ $# -gt 0 ] && shift
case "$kind" in
  web)
    exec daphne -b "$WEB_BIND" -p "$WEB_PORT" --proxy-headers clubhouse.asgi:application "$@" ;;
  relay)
    exec python manage.py relay "$@" ;;
  worker)
    exec celery -A clubhouse worker -l "${LOG_LEVEL:-info}" "$@" ;;
  beat)
    exec celery -A clubhouse beat -l "${LOG_LEVEL:-info}" "$@" ;;
  migrate)
    exec python manage.py migrate --noinput "$@" ;;
  *)
    if command -v "$kind" >/dev/null 2>&1; then
      exec "$kind" "$@"
    fi
    exec python manage.py "$kind" "$@" ;;
esac
