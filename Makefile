# The two commands: `make run` and `make test`. Both start what they need (see scripts/services.sh).
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

DEMO_EMAIL ?= admin@demo.crewtime
DEMO_PASSWORD ?= crewtime-demo-2026
BIND ?= 127.0.0.1:8080
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
CREWTIME := $(TARGET_DIR)/release/crewtime

.PHONY: run test bench services build lint fmt schema

services:
	scripts/services.sh

build:
	cargo build --release -p crewtime-server

## Serve the demo: services, migrations, demo data, then the API on $(BIND).
run: services build
	source .data/env
	export CREWTIME_BIND="$${CREWTIME_BIND:-$(BIND)}"
	$(CREWTIME) migrate
	CREWTIME_DEMO_EMAIL='$(DEMO_EMAIL)' CREWTIME_DEMO_PASSWORD='$(DEMO_PASSWORD)' $(CREWTIME) demo seed
	echo
	echo "crewtime is starting on http://$$CREWTIME_BIND/graphql (GraphiQL: http://$$CREWTIME_BIND/graphiql)"
	echo "demo sign-in: $(DEMO_EMAIL) / $(DEMO_PASSWORD)"
	echo
	exec $(CREWTIME) serve

## Every test, against real PostgreSQL and Redis.
test: services
	source .data/env
	# Databases left by earlier runs' tests (each test makes its own).
	psql "$$CREWTIME_TEST_ADMIN_URL" -Atqc "select datname from pg_database where datname like 'crewtime_t_%'" \
	  | while read -r db; do psql "$$CREWTIME_TEST_ADMIN_URL" -qc "DROP DATABASE IF EXISTS \"$$db\" WITH (FORCE)" >/dev/null; done
	# The standard graphql-ws npm client, for the interop check in tests/tests/it/live.rs.
	command -v npm >/dev/null 2>&1 || scripts/install-node.sh
	npm ci --prefix tests/interop --no-audit --no-fund >/dev/null
	cargo build -p crewtime-server --bin crewtime
	if cargo nextest --version >/dev/null 2>&1; then
	  cargo nextest run --workspace --no-fail-fast --failure-output final
	else
	  cargo test --workspace --no-fail-fast
	fi

## Benchmarks side by side with PostGraphile 5 and pgbench: a table on stdout and
## target/bench/report.json (see docs/PERFORMANCE.md). BENCH_ARGS passes options, e.g.
## BENCH_ARGS="--productions 4 --seconds 5" for a quick look.
bench: services
	source .data/env
	scripts/bench-peer.sh
	cargo build --release -p crewtime-server -p crewtime-bench
	# 1,000 clients and 10,000 subscriptions need more descriptors than the usual default.
	ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -Hn)"
	$(TARGET_DIR)/release/crewtime-bench --crewtime $(CREWTIME) --peer-dir .data/bench/peer \
	  --out $(TARGET_DIR)/bench/report.json $(BENCH_ARGS)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

schema:
	cargo run -q -p crewtime-server -- schema > schema.graphql
