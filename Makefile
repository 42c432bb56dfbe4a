# svinit — build, test, install. `make check` is what CI runs.

CARGO       ?= cargo
PREFIX      ?= /usr/local
MUSL_TARGET := x86_64-unknown-linux-musl
UNIT_DIRS   := $(wildcard units/*)

.PHONY: all build release static check lint test units-check demo install clean bench

all: build

build:
	$(CARGO) build --bins

release:
	$(CARGO) build --release --bins

# A static binary for embedded systems and scratch containers.
static:
	rustup target list --installed | grep -qx $(MUSL_TARGET) || rustup target add $(MUSL_TARGET)
	$(CARGO) build --release --bins --target $(MUSL_TARGET)
	@ls -l target/$(MUSL_TARGET)/release/svinit target/$(MUSL_TARGET)/release/svctl

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test:
	$(CARGO) test --all-targets

# Every example config must validate.
units-check: build
	@for dir in $(UNIT_DIRS); do \
		echo "== svinit --check -c $$dir"; \
		./target/debug/svinit --check -c $$dir || exit 1; \
	done

check: lint units-check test

# Benchmarks against the fork/exec floor, runit, s6, tini and dumb-init;
# writes BENCHMARKS.md (root; ~15 min, BENCH_QUICK=1 for a 1-minute smoke
# run). Not part of `check`: CI never runs it.
bench:
	bash bench/run.sh

# The README's demo: svinit as PID 1 of a fresh PID namespace (root), else
# as a user-mode supervisor. Ctrl-C stops it in reverse dependency order.
demo: build
	@if [ "$$(id -u)" = 0 ]; then \
		exec unshare --pid --fork --mount-proc ./target/debug/svinit -c units/demo; \
	else \
		exec ./target/debug/svinit -c units/demo; \
	fi

install: release
	install -D -m 0755 target/release/svinit $(DESTDIR)$(PREFIX)/sbin/svinit
	install -D -m 0755 target/release/svctl $(DESTDIR)$(PREFIX)/bin/svctl
	install -D -m 0644 man/svinit.8 $(DESTDIR)$(PREFIX)/share/man/man8/svinit.8
	install -D -m 0644 man/svctl.8 $(DESTDIR)$(PREFIX)/share/man/man8/svctl.8
	install -D -m 0644 man/svinit.kdl.5 $(DESTDIR)$(PREFIX)/share/man/man5/svinit.kdl.5

clean:
	$(CARGO) clean
