# Two commands matter: `make demo` (set up, generate demo data on first run, open the
# dashboard) and `make test` (the whole suite). Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
MAIL_PORT ?= 8025

.PHONY: demo setup test browser bench clean-demo

# The demo's email goes to a mail catcher on loopback (aiosmtpd), never to a real inbox:
# what the Email page sends lands in data/demo-mail.log.
demo: setup
	$(BIN)/pulse demo --if-empty
	@export PULSE_SMTP_HOST=127.0.0.1 PULSE_SMTP_PORT=$(MAIL_PORT) PULSE_SMTP_SECURITY=none; \
	  $(BIN)/python -m aiosmtpd -n -l 127.0.0.1:$(MAIL_PORT) >> data/demo-mail.log 2>&1 & MAIL=$$!; \
	  $(BIN)/pulse scheduler >> data/scheduler.log 2>&1 & SCHEDULER=$$!; \
	  trap 'kill $$MAIL $$SCHEDULER 2>/dev/null' EXIT INT TERM; \
	  echo "Email sent from the demo is caught, not delivered: see data/demo-mail.log."; \
	  echo "Scheduled exports run beside the app (pulse scheduler; its log is data/scheduler.log)."; \
	  $(BIN)/pulse run --port $(PORT)

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The browser tests drive Debian's Chromium; install it when we may (root), else they
# are skipped with the reason printed.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "Chromium is not installed and cannot be installed here: the browser tests will be skipped."; }

test: setup browser
	$(BIN)/pytest -n 2 --dist loadfile

bench: setup
	$(BIN)/python bench/run.py

clean-demo:
	rm -f data/pulse.duckdb data/pulse.duckdb.*
