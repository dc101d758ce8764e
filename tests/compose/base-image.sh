#!/usr/bin/env bash
# Make `debian:bookworm-slim` exist in the local engine. Pulled when a registry answers; else built
# the way Debian's own images are: a minbase debootstrap of bookworm from this machine's apt
# mirror, imported under the same tag. The Dockerfile stays `FROM debian:bookworm-slim`.
set -euo pipefail
tag=debian:bookworm-slim

if docker image inspect "$tag" >/dev/null 2>&1; then
  exit 0
fi
if timeout 60 docker pull "$tag" >/dev/null 2>&1; then
  exit 0
fi

# The first Debian mirror this machine's apt uses (deb822 `URIs:` or one-line `deb` entries).
mirror=$(
  { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
  } | grep -m1 '/debian/\?$' || true
)
mirror=${mirror:-http://deb.debian.org/debian}

root=$(mktemp -d /tmp/bookworm-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "no registry answers: debootstrap of bookworm from $mirror into $root"
debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
  tail -20 "$root.log" >&2; rm -f "$root.log"; exit 1; }
rm -f "$root.log"
# What Debian's slim image drops: package lists and caches.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | docker import \
  --change 'CMD ["bash"]' \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$tag"
echo "imported $tag"
