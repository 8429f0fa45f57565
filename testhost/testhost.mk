# The test host and the two commands of the README: `make demo`, `make test`.
# Included from the Makefile.

export PATH := $(PATH):/usr/local/go/bin

.PHONY: host-deps testhost testhost-stop e2e test demo bench bench-sync

host-deps:
	@testhost/host-deps

# Idempotent: a running host only gets the fresh build installed.
testhost: host-deps build
	@testhost/up

testhost-stop:
	@testhost/stop

# -count=1: the test host's state is outside Go's test cache.
e2e: testhost
	go test -tags e2e -count=1 -v ./e2e/

test: host-deps unit e2e

demo: testhost
	@testhost/demo

# Launch latency against a bare systemd-run + nspawn, as a ratio (docs/benchmarks.md).
bench: testhost
	testhost/run -- bash -s 30 < bench/launch-latency.sh

# nspawn-tray sync of 500 definitions, cold and unchanged (docs/benchmarks.md).
bench-sync: testhost
	testhost/run -- bash -s 500 < bench/sync-500.sh
