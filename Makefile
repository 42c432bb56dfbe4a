# svinit — build, test, install. `make check` is what CI runs.

CARGO       ?= cargo
PREFIX      ?= /usr/local
MUSL_TARGET := x86_64-unknown-linux-musl
UNIT_DIRS   := $(wildcard units/*)

.PHONY: all build release static check lint test units-check demo install clean bench soak fuzz-short fuzz

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
# writes BENCHMARKS.md (root; ~10 min, BENCH_QUICK=1 for a 1-minute smoke
# run). Not part of `check`: CI never runs it. DINIT=/path/to/dinit adds
# dinit's column to the boot, chain, reaping and shutdown rows.
bench:
	DINIT="$(DINIT)" bash bench/run.sh

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
	install -D -m 0644 completions/svctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/svctl
	install -D -m 0644 completions/_svctl $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_svctl
	install -D -m 0644 completions/svctl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/svctl.fish

clean:
	$(CARGO) clean

# Long fault-injection runs (RELIABILITY.md): the integration/faults.rs
# tests with their soak lengths, one at a time, figures on stderr.
soak:
	SVINIT_SOAK=1 $(CARGO) test --test integration faults:: -- --test-threads=1 --nocapture

# Stable-toolchain fuzzing for CI: the seeded property tests of the config
# loader and the control protocol decoder, FUZZ_SECS seconds for each of
# the four (80 s in all by default, CI runs it after `make check`).
FUZZ_SECS ?= 20
fuzz-short:
	SVINIT_FUZZ_SECS=$(FUZZ_SECS) $(CARGO) test --lib fuzz_tests -- --test-threads=1 --nocapture

# Coverage-guided fuzzing (nightly + cargo-fuzz), FUZZ_TIME seconds per target.
FUZZ_TIME ?= 600
fuzz:
	cd fuzz && for target in config protocol; do \
		cargo +nightly fuzz run $$target corpus/$$target seeds/$$target -- \
			-max_total_time=$(FUZZ_TIME) -rss_limit_mb=2048 -timeout=10 || exit 1; \
	done
