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

.PHONY: host-deps testhost testhost-stop e2e e2e-all test demo bench bench-steps bench-many bench-window bench-sandboxes bench-sync bench-tray bench-machines bench-chromium bench-firefox

host-deps:
	@testhost/host-deps

# Idempotent: a running host only gets the fresh build installed.
testhost: host-deps build
	@testhost/up

testhost-stop:
	@testhost/stop

# -count=1: the test host's state is outside Go's test cache.
# TESTHOST_REALAPPS=1: the host gets the image of real programs
# (testhost/realapps) and e2e/realapps_test.go runs; TESTHOST_REALAPPS=0
# make e2e leaves them out.
TESTHOST_REALAPPS ?= 1
e2e: export TESTHOST_REALAPPS := $(TESTHOST_REALAPPS)
# -timeout: the suite takes 5 to 8 minutes on 2 cores (the real apps about
# 40 s of it); go test's default of 10 leaves a slow CI day too little room.
e2e: testhost
	go test -tags e2e -count=1 -timeout 30m -v ./e2e/

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

# Every benchmark of issue 14 in one go; each prints its
# figures and ratios, docs/benchmarks.md keeps them.
bench: testhost
	cat bench/baseline.sh bench/launch-latency.sh | testhost/run -- bash -s 30
	testhost/run -- bash -s 20 < bench/launch-steps.sh
	cat bench/baseline.sh bench/launch-many.sh | testhost/run -- bash -s 20 3 100
	$(MAKE) --no-print-directory bench-window bench-sandboxes bench-sync bench-tray

# From the tray's click (and the desktop entry) to the first window.
bench-window: testhost
	go test -tags e2e -count=1 -run '^$$' -bench ClickToWindow -benchtime 9x ./e2e/

# bubblewrap, firejail, bare nspawn and nspawn-tray starting one program.
bench-sandboxes: testhost
	bench/sandboxes.sh 20

# 20 apps at once against one, 100 launch/stop cycles, a second launch
# (docs/benchmarks.md).
bench-many: testhost
	cat bench/baseline.sh bench/launch-many.sh | testhost/run -- bash -s 20 3 100

# The daemon's own profile of a launch, step by step (docs/benchmarks.md).
bench-steps: testhost
	testhost/run -- bash -s 20 < bench/launch-steps.sh

# nspawn-tray sync of 500 definitions, cold and unchanged (docs/benchmarks.md).
bench-sync: testhost
	testhost/run -- bash -s 500 3 < bench/sync-500.sh

# Tray start, RSS, idle CPU and machine-to-menu delay against a bare systray item.
bench-tray: testhost
	CGO_ENABLED=0 go build -o build/baretray ./bench/baretray
	CGO_ENABLED=0 go build -o build/traywatch ./bench/traywatch
	root=$$(bash -c '. testhost/lib.sh && echo "$$TESTHOST_ROOT"') && [ -d "$$root/usr/local/bin" ] && \
		install -m 0755 build/baretray build/traywatch "$$root/usr/local/bin/"
	testhost/run -- bash -s 5 < bench/tray.sh

# The bootable image tiny from the tray's Start against machinectl start, and
# 20 machines enabled at boot (reboots the test host; docs/benchmarks.md).
bench-machines: testhost
	go test -tags e2e -count=1 -run '^$$' -bench TinyBoot -benchtime 10x ./e2e/
	bench/machines-at-boot.sh 20

# Chromium's and Firefox's cold start to first window, in their container
# against the same binary run directly in the test host (docs/benchmarks.md).
bench-chromium: export TESTHOST_REALAPPS := 1
bench-chromium: testhost
	testhost/run -- bash -s 10 chromium < bench/browser-first-window.sh
bench-firefox: export TESTHOST_REALAPPS := 1
bench-firefox: testhost
	testhost/run -- bash -s 10 firefox-esr < bench/browser-first-window.sh
