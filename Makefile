# Build, test and install nspawn-tray.
#
#   make build | unit | cover | fmt-check | install | uninstall | deb | rpm | clean
#
# Install locations follow the GNU conventions; override any of them, and
# DESTDIR for staged installs, e.g. make install PREFIX=/usr DESTDIR=/tmp/pkg
# The packages (make deb, make rpm) are make install's files, staged.

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
SYSCONFDIR ?= /etc
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
APPLICATIONSDIR ?= $(DATADIR)/applications
ICONDIR    ?= $(DATADIR)/icons/hicolor/scalable/apps
APPSDIR    ?= $(SYSCONFDIR)/nspawn-tray/apps.d
DBUSDIR    ?= $(DATADIR)/dbus-1
POLKITDIR  ?= $(DATADIR)/polkit-1
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     ?= $(DATADIR)/man
# Where each shell looks for completions of its own accord. zsh's fpath on
# Debian has $(PREFIX)/share/zsh/site-functions for /usr/local only: the
# Debian package sets ZSHCOMPDIR=/usr/share/zsh/vendor-completions.
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d

GO      ?= go
INSTALL ?= install
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The date the manual pages show: the last commit's, or SOURCE_DATE_EPOCH's
# for a reproducible build.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

BIN := build/nspawn-tray

# Every installed file, as SOURCE:DESTINATION:MODE. install and uninstall
# both read this one list, so they cannot drift apart. (Paths therefore must
# not contain ':' or spaces.)
INSTALLED_FILES = \
	$(BIN):$(BINDIR)/nspawn-tray:0755 \
	packaging/nspawn-tray.sysusers:$(SYSUSERSDIR)/nspawn-tray.conf:0644 \
	build/nspawn-tray.desktop:$(APPLICATIONSDIR)/nspawn-tray.desktop:0644 \
	icons/nspawn-tray.svg:$(ICONDIR)/nspawn-tray.svg:0644 \
	build/io.github.nspawn_tray.Launcher1.service:$(DBUSDIR)/system-services/io.github.nspawn_tray.Launcher1.service:0644 \
	packaging/io.github.nspawn_tray.Launcher1.conf:$(DBUSDIR)/system.d/io.github.nspawn_tray.Launcher1.conf:0644 \
	build/nspawn-tray-daemon.service:$(UNITDIR)/nspawn-tray-daemon.service:0644 \
	packaging/io.github.nspawn-tray.policy:$(POLKITDIR)/actions/io.github.nspawn-tray.policy:0644 \
	packaging/50-nspawn-tray.rules:$(POLKITDIR)/rules.d/50-nspawn-tray.rules:0644 \
	build/nspawn-tray.1:$(MANDIR)/man1/nspawn-tray.1:0644 \
	build/nspawn-tray.apps.d.5:$(MANDIR)/man5/nspawn-tray.apps.d.5:0644 \
	packaging/completions/nspawn-tray.bash:$(BASHCOMPDIR)/nspawn-tray:0644 \
	packaging/completions/_nspawn-tray:$(ZSHCOMPDIR)/_nspawn-tray:0644 \
	packaging/completions/nspawn-tray.fish:$(FISHCOMPDIR)/nspawn-tray.fish:0644

field = $(word $(1),$(subst :, ,$(2)))

define newline


endef

.PHONY: all build install uninstall unit cover fmt-check clean deb rpm FORCE

all: build

# Always invoke go build: its cache knows better than make whether the
# binary is up to date.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) .

# Files that name the installed binary's path, the version or the date.
build/%: packaging/%.in FORCE
	@mkdir -p build
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@VERSION@|$(VERSION)|g' \
		-e "s|@DATE@|$$(date -u -d @$(SOURCE_DATE_EPOCH) +%F)|g" $< > $@.tmp && mv $@.tmp $@

# nspawn-tray(1) comes from the command table --help prints (cli/man.go),
# by running the binary just built: a cross-build needs a native binary for
# this step.
build/nspawn-tray.1: build
	$(BIN) man > $@.tmp && mv $@.tmp $@

GENERATED = build/io.github.nspawn_tray.Launcher1.service build/nspawn-tray-daemon.service build/nspawn-tray.desktop \
	build/nspawn-tray.1 build/nspawn-tray.apps.d.5

install: build $(GENERATED)
	$(foreach f,$(INSTALLED_FILES),$(INSTALL) -D -m $(call field,3,$(f)) $(call field,1,$(f)) '$(DESTDIR)$(call field,2,$(f))'$(newline))
	$(INSTALL) -d -m 0755 '$(DESTDIR)$(APPSDIR)'

# Removes only the files install put there. Directories stay: they may be
# shared with other packages, and apps.d holds the admin's definitions.
uninstall:
	rm -f $(foreach f,$(INSTALLED_FILES),'$(DESTDIR)$(call field,2,$(f))')

# The patched godbus (third_party/godbus-dbus) is a module of its own: its
# test runs here too.
unit:
	$(GO) vet ./...
	$(GO) test ./...
	cd third_party/godbus-dbus && $(GO) test ./...

# Statement coverage of every package but the e2e suite (package e2e, built
# only with -tags e2e), the benchmark fixtures (bench/) and the test helpers
# (internal/); fails when one is below COVER_MIN percent. Some tests need
# root (bind mounts, connections as another user): run it as root, as CI does.
COVER_MIN ?= 70
cover:
	@mkdir -p build
	@$(GO) test -count=1 -coverprofile=build/cover.out $$($(GO) list ./... | grep -v -e /bench/ -e /internal/) | tee build/cover.txt
	@awk -v min=$(COVER_MIN) ' \
		/^(FAIL|---)/ { bad = 1 } \
		/coverage:/ { for (i = 1; i <= NF; i++) if ($$i == "coverage:") { pct = $$(i+1); sub("%", "", pct) } \
			pkg = ($$1 == "ok") ? $$2 : $$1; \
			if (pct + 0 < min) { printf "cover: %s at %s%%, below %s%%\n", pkg, pct, min; bad = 1 } } \
		END { if (bad) exit 1; printf "cover: every package at or above %s%% (profile: build/cover.out)\n", min }' build/cover.txt

fmt-check:
	@files=$$(gofmt -l .); \
	if [ -n "$$files" ]; then echo "not gofmt-ed:"; echo "$$files"; exit 1; fi

# A Debian package of exactly what make install puts down (PREFIX=/usr),
# made with dpkg-deb; packaging/deb/build-deb says why not debhelper.
deb: build
	rm -rf build/deb
	$(MAKE) --no-print-directory install DESTDIR='$(CURDIR)/build/deb/root' PREFIX=/usr SYSCONFDIR=/etc \
		ZSHCOMPDIR=/usr/share/zsh/vendor-completions
	GOARCH=$$($(GO) env GOARCH) packaging/deb/build-deb build/deb/root '$(VERSION)' build

# An RPM of the same files, made with rpmbuild from this tree
# (packaging/rpm/nspawn-tray.spec); the README says what is tested of it.
rpm: build
	rm -rf build/rpm
	packaging/rpm/build-rpm '$(VERSION)' build

clean:
	rm -rf build

# Image import throughput against a bare tar -x of the same tarball, as a
# ratio (docs/benchmarks.md); in the test host (target testhost).
.PHONY: bench-import
bench-import: testhost
	testhost/run -- bash -s 5 < bench/import.sh

-include testhost/testhost.mk
