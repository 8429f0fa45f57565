# The test host and the two commands of the README: `make demo`, `make test`.
# Included from the Makefile.
#
# SUITE picks the test host's Debian release for the commands that use one
# host (testhost, testhost-stop, e2e, demo, bench*): bookworm (Debian 12, the
# default) or trixie (Debian 13), e.g. `make e2e SUITE=trixie`. It defaults to
# TESTHOST_SUITE from the environment, which the testhost/ scripts read.
# `make test` runs the e2e suite on every release in E2E_SUITES.

export PATH := $(PATH):/usr/local/go/bin

SUITE ?= $(or $(TESTHOST_SUITE),bookworm)
export TESTHOST_SUITE := $(SUITE)
E2E_SUITES ?= trixie bookworm

.PHONY: host-deps testhost testhost-stop e2e e2e-all test demo bench bench-sync bench-tray bench-machines

host-deps:
	@testhost/host-deps

# Idempotent: a running host only gets the fresh build installed.
testhost: host-deps build
	@testhost/up

testhost-stop:
	@testhost/stop

# -count=1: the test host's state is outside Go's test cache. -timeout: the
# suite takes 5 to 8 minutes on 2 cores, near go test's default of 10.
e2e: testhost
	go test -tags e2e -count=1 -timeout 25m -v ./e2e/

# Every release, even after one failed; fails if any did.
e2e-all:
	@failed=""; for s in $(E2E_SUITES); do \
		echo "== e2e on the $$s test host"; \
		$(MAKE) --no-print-directory e2e SUITE=$$s || failed="$$failed $$s"; \
	done; \
	if [ -n "$$failed" ]; then echo "e2e failed on:$$failed" >&2; exit 1; fi

test: host-deps unit e2e-all

demo: testhost
	@testhost/demo

# Launch latency against a bare systemd-run + nspawn, as a ratio (docs/benchmarks.md).
bench: testhost
	testhost/run -- bash -s 30 < bench/launch-latency.sh

# nspawn-tray sync of 500 definitions, cold and unchanged (docs/benchmarks.md).
bench-sync: testhost
	testhost/run -- bash -s 500 < bench/sync-500.sh

# Tray start, RSS, idle CPU and machine-to-menu delay against a bare systray item.
bench-tray: testhost
	CGO_ENABLED=0 go build -o build/baretray ./bench/baretray
	install -m 0755 build/baretray "$$(. testhost/lib.sh && echo "$$TESTHOST_ROOT")/usr/local/bin/baretray"
	testhost/run -- bash -s 5 < bench/tray.sh

# The bootable image tiny from the tray's Start against machinectl start, and
# 20 machines enabled at boot (reboots the test host; docs/benchmarks.md).
bench-machines: testhost
	go test -tags e2e -count=1 -run '^$$' -bench TinyBoot -benchtime 10x ./e2e/
	bench/machines-at-boot.sh 20
