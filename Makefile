# Relaydesk: `make run` starts the product on embedded defaults, `make test` runs the whole suite.
# Both create .venv, install the pinned requirements, migrate and compile the catalogues first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app run
PYBABEL := $(VENV)/bin/pybabel
STAMP := $(VENV)/.installed-stamp

.PHONY: run test test-sqlite fuzz-api lint i18n i18n-fab compile-catalogues migrate venv worker bench clean help chromium vendor

help:
	@echo "make run      start web + worker + scheduler on http://127.0.0.1:5000 (demo workspace)"
	@echo "make test     run the whole test suite (PostgreSQL + Redis when they answer)"
	@echo "make fuzz-api the REST API under Schemathesis, long (prints requests and server errors)"
	@echo "make lint     ruff"
	@echo "make i18n     extract, update and compile the message catalogues"
	@echo "make migrate  apply database migrations"

venv: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || (echo "Creating $(VENV) and installing the requirements…" && $(PYTHON) -m venv $(VENV))
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $(STAMP)

compile-catalogues: venv
	$(PYBABEL) -q compile -f -d translations
	$(PYBABEL) -q compile -f -D fab -d translations

migrate: venv
	$(FLASK) db upgrade

# Quiet: the migrations and `init --demo` run inside app.devserver (output shown on failure).
run: venv
	@$(PYBABEL) -q compile -f -d translations
	@$(PY) -m app.devserver

worker: venv
	$(FLASK) worker

# Browser tests drive Debian's chromium through Playwright (no browser download).
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

# Two workers: each gets its own database and Redis db (tests/backends.py).
TEST_WORKERS ?= 2

test: venv compile-catalogues chromium
	$(PY) -m pytest -n $(TEST_WORKERS)

# The REST API under Schemathesis for longer than `make test` does (issue 18): every operation of
# /api/v1/_openapi as a manager and as an agent, FUZZ_EXAMPLES generated requests per operation
# and the coverage phase; the summary prints the requests sent and the server errors met.
FUZZ_EXAMPLES ?= 40

fuzz-api: venv compile-catalogues
	RELAYDESK_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) RELAYDESK_FUZZ_COVERAGE=1 \
		RELAYDESK_FUZZ_TIMEOUT=7200 $(PY) -m pytest -n $(TEST_WORKERS) -p no:logging \
		tests/integration/test_api_fuzz.py

# The same suite on the embedded backends (SQLite + in-process Redis substitute).
test-sqlite: venv compile-catalogues chromium
	RELAYDESK_TEST_BACKENDS=embedded $(PY) -m pytest -n $(TEST_WORKERS)

lint: venv
	$(VENV)/bin/ruff check app tests bench run.py

i18n: venv
	$(PYBABEL) extract -F babel/babel.cfg -k lazy_gettext -k _l -k N_ -k Nn_:1,2 -o translations/messages.pot .
	$(PYBABEL) update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(PYBABEL) compile -f -d translations
	$(PY) babel/reply_texts.py

# Flask-AppBuilder's own strings (the `fab` domain): after upgrading FAB, refresh the template
# from the installed package, then translate every new entry of translations/*/LC_MESSAGES/fab.po.
i18n-fab: venv
	$(PYBABEL) extract -F babel/fab.cfg -k lazy_gettext --no-location --omit-header -o translations/fab.pot $$($(PY) -c "import flask_appbuilder, os; print(os.path.dirname(flask_appbuilder.__file__))")
	$(PYBABEL) update -D fab -i translations/fab.pot -d translations --no-fuzzy-matching --ignore-obsolete
	$(PYBABEL) compile -f -D fab -d translations

# Browser libraries the app serves itself (never from a CDN: app/security_headers.py allows
# only this site's scripts). npm installs the versions pinned in package-lock.json; the built
# files are copied, with their licences, into app/static/vendor/ and committed, so neither
# `make run` nor the tests need npm. Run after changing a version in package.json.
VENDOR_CHARTJS := app/static/vendor/chartjs

vendor:
	npm ci --no-audit --no-fund
	mkdir -p $(VENDOR_CHARTJS)
	grep -v '^//# sourceMappingURL=' node_modules/chart.js/dist/chart.umd.min.js > $(VENDOR_CHARTJS)/chart.umd.min.js
	cp node_modules/chart.js/LICENSE.md $(VENDOR_CHARTJS)/LICENSE.md
	cp node_modules/@kurkle/color/LICENSE.md $(VENDOR_CHARTJS)/LICENSE-kurkle-color.md
	node -e 'console.log(require("./node_modules/chart.js/package.json").version)' > $(VENDOR_CHARTJS)/VERSION

bench: venv
	$(PY) bench/webhook_ingest.py

clean:
	rm -rf $(VENV) .pytest_cache
