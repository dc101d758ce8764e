# The two commands: `make run` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
MANAGE := $(PYTHON) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000
# daphne's listen backlog (docs/operations.md, "Join storms"): -b/-p would leave Twisted's 50.
BACKLOG ?= 4096
DAPHNE_LISTEN := -e tcp:port=$(PORT):interface=$(HOST):backlog=$(BACKLOG)

.PHONY: run test lint format typecheck migrations-check deploy-check pytest bench venv env lock \
        migrate demo serve clean test-embedded bench-relay bench-rooms bench-joins bench-stipends browser turn netns janus \
        compose-test

# --- setup -------------------------------------------------------------------------------
$(BIN)/activate:
	$(PY) -m venv $(VENV)

# Installs come only from the lock files: every package pinned with PyPI's sha256 hashes
# (--require-hashes refuses anything else), pip and setuptools included, so a venv made with
# Python's bundled pip and setuptools 65.5.0 gets the locked, current ones. requirements*.txt
# say what we depend on; after editing them run `make lock`.
# The checkout on the venv's path (what an editable install does), so `.venv/bin/pytest` finds
# the suite's service plugin (tests/testenv.py) from any directory.
.stamp-requirements: requirements.lock requirements-dev.lock $(BIN)/activate
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	@$(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
	  | xargs -I{} sh -c 'echo "$(CURDIR)" > "{}/clubhouse-checkout.pth"'
	@touch $@

# The relay's C send loop (media_relay/fastpath.c, built with cffi). Without a C compiler the relay
# runs its Python loop instead, so here a failed build only warns; the test suite requires it.
.stamp-fastpath: media_relay/fastpath.c media_relay/fastpath_build.py .stamp-requirements
	@if $(PYTHON) -m media_relay.fastpath_build; then touch $@; else \
	  echo "warning: the relay's C send loop did not build (no C compiler?); it uses Python"; fi

venv: .stamp-requirements .stamp-fastpath

# The lock files from requirements*.txt (pip-tools). PIP_CONFIG_FILE=/dev/null: resolved against
# PyPI alone, so the hashes are PyPI's and not those of a machine's local wheel directory or
# index; the dev lock is constrained by the runtime lock, so both pin the same versions.
PIP_COMPILE := PIP_CONFIG_FILE=/dev/null $(BIN)/pip-compile --quiet --generate-hashes \
	--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock: .stamp-requirements
	$(PIP_COMPILE) --upgrade-package setuptools --upgrade-package pip -o requirements.lock requirements.txt
	$(PIP_COMPILE) -c requirements.lock -o requirements-dev.lock requirements-dev.txt

# A local .env with a generated secret key; real deployments set variables instead.
.env:
	@echo "DJANGO_DEBUG=1" > .env
	@echo "DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env
	@echo "wrote .env (local development defaults; see docs/operations.md)"

# A Web Push (VAPID) key pair too, added to an existing .env that has none (docs/operations.md,
# "Web Push"); the venv's python, which has the cryptography package.
env: .env venv
	@grep -q '^VAPID_PRIVATE_KEY=' .env || { $(MANAGE) vapid_keys >> .env && echo "added a VAPID key pair to .env"; }

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never
# downloads a browser) and Debian's Janus for the relay benchmark's side-by-side reference.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
# Firefox ESR too, driven over WebDriver BiDi by puppeteer-core (npm; it downloads no browser).
FIREFOX_DRIVER := tests/browser/firefox
browser: $(FIREFOX_DRIVER)/node_modules/.package-lock.json
	@command -v chromium >/dev/null || { apt-get update -q && $(APT_INSTALL) chromium fonts-dejavu-core; }
	@command -v firefox-esr >/dev/null || { apt-get update -q && $(APT_INSTALL) firefox-esr; }

$(FIREFOX_DRIVER)/node_modules/.package-lock.json: $(FIREFOX_DRIVER)/package-lock.json
	cd $(FIREFOX_DRIVER) && npm ci --no-audit --no-fund --loglevel=error

# coturn for the TURN tests (tests/media_relay/test_turn.py start `turnserver` on 127.0.0.1).
turn:
	@command -v turnserver >/dev/null || { apt-get update -q && $(APT_INSTALL) coturn; }

# The network-namespace tests (NAT, firewalls) build their hosts with ip and iptables.
netns:
	@command -v iptables >/dev/null || { apt-get update -q && $(APT_INSTALL) iptables iproute2; }

janus:
	@command -v janus >/dev/null || { apt-get update -q && $(APT_INSTALL) janus; }

# --- run ---------------------------------------------------------------------------------
migrate: venv env
	$(MANAGE) migrate --noinput

demo: migrate
	$(MANAGE) demo_data

serve: venv env
	$(BIN)/daphne $(DAPHNE_LISTEN) clubhouse.asgi:application

# The demo bot speakers (ordinary clients over /ws/ + WebRTC) play generated music in the demo's
# live room while the server runs, and stop with it. The URL is printed once daphne answers, so
# it can be opened at once.
run: demo
	@$(BIN)/daphne $(DAPHNE_LISTEN) clubhouse.asgi:application & web=$$!; \
	$(MANAGE) demo_speaker --url ws://$(HOST):$(PORT)/ws/ & bot=$$!; \
	trap 'kill $$bot $$web 2>/dev/null; wait $$bot $$web 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
	until (exec 3<>/dev/tcp/$(HOST)/$(PORT)) 2>/dev/null; do \
	  kill -0 $$web 2>/dev/null || exit 1; sleep 0.2; done; \
	echo "Serving on http://$(HOST):$(PORT)/  (Ctrl-C to stop)"; \
	wait $$web

# --- checks ------------------------------------------------------------------------------
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venv env
	$(BIN)/mypy clubhouse accounts rooms clubs payouts media_relay

migrations-check: venv env
	$(MANAGE) makemigrations --check --dry-run

# Production-like settings: debug off, a real secret key, a real host, HTTPS everywhere, and a
# Stripe key (a fake one: nothing contacts Stripe; without a key the check refuses, payouts.E002).
deploy-check: venv
	DJANGO_DEBUG=0 DJANGO_SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	DJANGO_ALLOWED_HOSTS=clubhouse.example.com \
	STRIPE_LIVE_MODE=false STRIPE_TEST_SECRET_KEY=sk_test_deploy-check-not-a-real-key \
	$(MANAGE) check --deploy --fail-level WARNING

# Needs no environment: tests/testenv.py uses this machine's PostgreSQL and Redis or starts
# private ones; tests/embedded/ runs `make run` itself (SQLite, in-memory layer, in-process relay).
# Coverage of the apps' lines (pyproject.toml, [tool.coverage]: the floor, the subprocesses);
# `make pytest COV= PYTEST_ARGS=tests/...` runs a part without it.
COV ?= --cov --cov-report=term-missing:skip-covered
pytest: venv env browser turn netns
	$(PYTHON) -m pytest $(COV) --durations=30 $(PYTEST_ARGS)

# Only the embedded leg: the product as `make run` serves it, smoke-tested over HTTP, /ws/ and
# a browser listener.
test-embedded: venv env browser
	$(PYTHON) -m pytest tests/embedded $(PYTEST_ARGS)

# The self-hoster's stack (deploy/compose.yaml) on this machine: a Docker engine (Debian's docker.io,
# dockerd started without a bridge or iptables rules if none runs), the base image (debootstrap of
# bookworm from this machine's apt mirror when no registry answers), the images, then
# tests/compose brings the stack up on 127.0.0.1 ports of its own, signs people up through Caddy,
# hears a tone through the relay workers, and takes the stack down (volumes too).
compose-test: venv env
	tests/compose/engine.sh
	tests/compose/base-image.sh
	tests/compose/build.sh
	CLUBHOUSE_COMPOSE_TEST=1 $(PYTHON) -m pytest tests/compose -p no:cacheprovider $(PYTEST_ARGS)

test: lint typecheck migrations-check deploy-check pytest compose-test

# Benchmarks write JSON to bench/results/ (see docs/benchmarks.md); `make bench` runs them all.
bench: venv env janus
	$(PYTHON) -m bench

bench-relay: venv env janus
	$(PYTHON) -m bench.relay

bench-rooms: venv env
	$(PYTHON) -m bench.room_events

# Needs DATABASE_URL (a PostgreSQL server it may create a database on) and REDIS_URL.
bench-joins: venv env
	$(PYTHON) -m bench.join_storm $(BENCH_ARGS)

bench-stipends: venv env
	$(PYTHON) -m bench.stipends

clean:
	rm -rf $(VENV) .stamp-* .pytest_cache .mypy_cache .ruff_cache build media_relay/_fastpath*.so
