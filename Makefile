# The two commands: `make run` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
MANAGE := $(PYTHON) manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format typecheck migrations-check deploy-check pytest bench venv env \
        migrate demo serve clean test-embedded bench-relay bench-rooms bench-stipends browser turn janus

# --- setup -------------------------------------------------------------------------------
$(BIN)/activate:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The checkout on the venv's path (what an editable install does), so `.venv/bin/pytest` finds
# the suite's service plugin (tests/testenv.py) from any directory.
.stamp-requirements: requirements.txt requirements-dev.txt $(BIN)/activate
	$(BIN)/pip install -q -r requirements-dev.txt
	@$(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
	  | xargs -I{} sh -c 'echo "$(CURDIR)" > "{}/clubhouse-checkout.pth"'
	@touch $@

# The relay's C send loop (media_relay/fastpath.c, built with cffi). Without a C compiler the relay
# runs its Python loop instead, so here a failed build only warns; the test suite requires it.
.stamp-fastpath: media_relay/fastpath.c media_relay/fastpath_build.py .stamp-requirements
	@if $(PYTHON) -m media_relay.fastpath_build; then touch $@; else \
	  echo "warning: the relay's C send loop did not build (no C compiler?); it uses Python"; fi

venv: .stamp-requirements .stamp-fastpath

# A local .env with a generated secret key; real deployments set variables instead.
.env:
	@echo "DJANGO_DEBUG=1" > .env
	@echo "DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env
	@echo "wrote .env (local development defaults; see docs/operations.md)"

env: .env

# Debian's Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never
# downloads a browser) and Debian's Janus for the relay benchmark's side-by-side reference.
APT_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends
browser:
	@command -v chromium >/dev/null || { apt-get update -q && $(APT_INSTALL) chromium fonts-dejavu-core; }

# coturn for the TURN tests (tests/media_relay/test_turn.py start `turnserver` on 127.0.0.1).
turn:
	@command -v turnserver >/dev/null || { apt-get update -q && $(APT_INSTALL) coturn; }

janus:
	@command -v janus >/dev/null || { apt-get update -q && $(APT_INSTALL) janus; }

# --- run ---------------------------------------------------------------------------------
migrate: venv env
	$(MANAGE) migrate --noinput

demo: migrate
	$(MANAGE) demo_data

serve: venv env
	$(BIN)/daphne -b $(HOST) -p $(PORT) clubhouse.asgi:application

# The demo bot speakers (ordinary clients over /ws/ + WebRTC) play generated music in the demo's
# live room while the server runs, and stop with it. The URL is printed once daphne answers, so
# it can be opened at once.
run: demo
	@$(BIN)/daphne -b $(HOST) -p $(PORT) clubhouse.asgi:application & web=$$!; \
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
pytest: venv env browser turn
	$(PYTHON) -m pytest $(PYTEST_ARGS)

# Only the embedded leg: the product as `make run` serves it, smoke-tested over HTTP, /ws/ and
# a browser listener.
test-embedded: venv env browser
	$(PYTHON) -m pytest tests/embedded $(PYTEST_ARGS)

test: lint typecheck migrations-check deploy-check pytest

# Benchmarks write JSON to bench/results/ (see docs/benchmarks.md); `make bench` runs them all.
bench: venv env janus
	$(PYTHON) -m bench

bench-relay: venv env janus
	$(PYTHON) -m bench.relay

bench-rooms: venv env
	$(PYTHON) -m bench.room_events

bench-stipends: venv env
	$(PYTHON) -m bench.stipends

clean:
	rm -rf $(VENV) .stamp-* .pytest_cache .mypy_cache .ruff_cache build media_relay/_fastpath*.so
