#!/usr/bin/env bash
# Make sure a Docker engine answers on this machine (the compose test, `make compose-test`).
# Installs Debian's docker.io, docker-compose (v1; Debian bookworm has no compose v2 package) and
# debootstrap when missing, and starts dockerd in the background when none runs. The daemon gets
# no bridge and no iptables rules: every container of the test stack uses host networking, so
# Docker never takes an address range (and never 172.17.0.0/16); the address pool it would use
# for a user-defined network is a documentation range.
set -euo pipefail

need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-compose >/dev/null || need+=(docker-compose)
command -v debootstrap >/dev/null || need+=(debootstrap)
if ((${#need[@]})); then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"
fi

if docker info >/dev/null 2>&1; then
  exit 0
fi

log=/var/log/clubhouse-dockerd.log
echo "starting dockerd (log: $log)"
nohup dockerd --bridge=none --iptables=false --ip6tables=false \
  --default-address-pool base=198.51.100.0/24,size=28 >"$log" 2>&1 &
for _ in $(seq 1 120); do
  if docker info >/dev/null 2>&1; then
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 60 s; its log ($log) ends:" >&2
tail -20 "$log" >&2
exit 1
