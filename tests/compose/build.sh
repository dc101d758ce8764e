#!/usr/bin/env bash
# Build the images deploy/compose.yaml runs, with the tags it names. Docker's layer cache makes a
# repeat quick: the app's requirements layer is rebuilt only when requirements.txt changes.
# pip inside the build reaches PyPI over the host's network; a TLS-intercepting proxy's CA
# certificates (this machine's local CAs) are passed as the Dockerfile's EXTRA_CA_CERTS.
set -euo pipefail
cd "$(dirname "$0")/../.."

extra_ca=""
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  extra_ca=$(cat /usr/local/share/ca-certificates/*.crt)
fi

build() { # tag context [docker build args...]
  local tag=$1 context=$2
  shift 2
  echo "building $tag"
  if ! docker build --network host -q -t "$tag" "$@" "$context" >/tmp/clubhouse-build.$$.log 2>&1; then
    tail -40 /tmp/clubhouse-build.$$.log >&2
    rm -f /tmp/clubhouse-build.$$.log
    exit 1
  fi
  rm -f /tmp/clubhouse-build.$$.log
}

build clubhouse:local . --build-arg EXTRA_CA_CERTS="$extra_ca"
build clubhouse-postgres:15 deploy/images/postgres
build clubhouse-redis:7 deploy/images/redis
build clubhouse-caddy:2 deploy/images/caddy
build clubhouse-coturn:4.6 deploy/images/coturn
