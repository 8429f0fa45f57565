# Build, test and install nspawn-tray.
#
#   make build | unit | cover | fmt-check | install | uninstall | clean
#
# Install locations follow the GNU conventions; override any of them, and
# DESTDIR for staged installs, e.g. make install PREFIX=/usr DESTDIR=/tmp/pkg

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

GO      ?= go
INSTALL ?= install
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

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
	packaging/50-nspawn-tray.rules:$(POLKITDIR)/rules.d/50-nspawn-tray.rules:0644

field = $(word $(1),$(subst :, ,$(2)))

define newline


endef

.PHONY: all build install uninstall unit cover fmt-check clean FORCE

all: build

# Always invoke go build: its cache knows better than make whether the
# binary is up to date.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) .

# Files that name the installed binary's path.
build/%: packaging/%.in FORCE
	@mkdir -p build
	sed 's|@BINDIR@|$(BINDIR)|g' $< > $@.tmp && mv $@.tmp $@

install: build build/io.github.nspawn_tray.Launcher1.service build/nspawn-tray-daemon.service build/nspawn-tray.desktop
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

clean:
	rm -rf build

-include testhost/testhost.mk
