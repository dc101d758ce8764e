"""The image's HEALTHCHECK: GET /livez of the web process in this container.

Only the web kind serves HTTP; for the others (relay, worker, beat) the check passes, as their
state is in the web tier's staff-only health detail and not a container's business. The request
names the first of DJANGO_ALLOWED_HOSTS (Django refuses other hosts) and says it came over HTTPS,
as the TLS proxy would, so the HTTPS redirect does not answer instead of the view.
"""

import os
import sys
import urllib.request


def main() -> int:
    with open("/proc/1/cmdline", "rb") as f:
        command = f.read().split(b"\0")
    if not any(part.endswith(b"daphne") for part in command):
        return 0
    hosts = [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = (hosts[0].lstrip(".") if hosts else "localhost").replace("*", "localhost")
    request = urllib.request.Request(
        f"http://127.0.0.1:{os.environ.get('WEB_PORT', '8000')}/livez",
        headers={"Host": host, "X-Forwarded-Proto": "https"},
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 (loopback)
            return 0 if response.status == 200 else 1
    except OSError as error:
        sys.stderr.write(f"/livez: {error}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
