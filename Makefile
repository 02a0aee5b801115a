# tcpconn: the two commands are `make run` and `make test`.

TELEGRAF_VERSION := v1.37.2
TELEGRAF_TAGS    := custom,inputs.execd,outputs.file,outputs.influxdb,outputs.prometheus_client
GOLANGCI_VERSION := v2.15.0
# The real servers of the end-to-end tests, built from the Go module proxy
# like Telegraf. InfluxDB 1.8 is the last 1.x whose server is pure Go.
INFLUXDB_VERSION   := v1.8.10
PROMETHEUS_VERSION := v0.316.0
BIN              := $(CURDIR)/bin
GO               ?= go
SHELL            := /bin/bash
FUZZTIME         ?= 5m
# How long the fuzzer may shrink one new input. Go's default, 60s, can eat
# a short run whole: shrinking a 1 KiB row is quadratic in its length.
FUZZMINIMIZETIME ?= 60s

export TCPCONN_BIN_DIR := $(BIN)

.PHONY: all build servers custom-telegraf run test fuzz-seeds fuzz bench lint fmt tidy generate clean FORCE

all: build

build: $(BIN)/tcpconn $(BIN)/telegraf

# go build is incremental, so always ask it.
$(BIN)/tcpconn: FORCE
	$(GO) build -o $@ ./cmd/tcpconn

# pinned installs package $(3) at version $(2) into bin/ as $(1), again
# only when the binary is missing or the pin changes. $(4): build flags.
define pinned
	@if [ ! -x $(BIN)/$(1) ] || [ "$$(cat $(BIN)/.$(1)-version 2>/dev/null)" != "$(2)" ]; then \
	  echo "building $(1) $(2) into $(BIN)"; \
	  GOBIN=$(BIN) $(GO) install $(4) $(3)@$(2) && echo $(2) > $(BIN)/.$(1)-version; \
	fi
endef

$(BIN)/telegraf: FORCE
	$(call pinned,telegraf,$(TELEGRAF_VERSION),github.com/influxdata/telegraf/cmd/telegraf,-tags $(TELEGRAF_TAGS))

# The plugin compiled into Telegraf, as the README's "Compiled into a custom
# Telegraf" says: Telegraf's module source at the pin, plus
# examples/custom-telegraf/tcpconn.go in its plugins/inputs/all and a
# replace of this module by this tree. The source is copied again only when
# the pin changes; go build is incremental, so the plugin is always this
# tree's. (go mod tidy there would fail on a test-only dependency the proxy
# does not serve; -mod=mod does not need it.)
TELEGRAF_SRC  := $(BIN)/telegraf-src
CUSTOM_TAGS   := custom,inputs.tcpconn,outputs.file,outputs.influxdb
MODULE        := $(shell $(GO) list -m)

custom-telegraf: $(BIN)/telegraf-tcpconn

$(BIN)/telegraf-tcpconn: FORCE
	@if [ "$$(cat $(TELEGRAF_SRC)/.tcpconn-version 2>/dev/null)" != "$(TELEGRAF_VERSION)" ]; then \
	  set -e; echo "copying Telegraf $(TELEGRAF_VERSION) into $(TELEGRAF_SRC)"; \
	  src=$$($(GO) mod download -json github.com/influxdata/telegraf@$(TELEGRAF_VERSION) | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$$/\1/p'); \
	  rm -rf $(TELEGRAF_SRC); cp -r "$$src" $(TELEGRAF_SRC); chmod -R u+w $(TELEGRAF_SRC); \
	  cd $(TELEGRAF_SRC) && $(GO) mod edit -require $(MODULE)@v0.0.0 -replace $(MODULE)=$(CURDIR); \
	  echo $(TELEGRAF_VERSION) > $(TELEGRAF_SRC)/.tcpconn-version; \
	fi
	@cp examples/custom-telegraf/tcpconn.go $(TELEGRAF_SRC)/plugins/inputs/all/tcpconn.go
	cd $(TELEGRAF_SRC) && $(GO) build -mod=mod -tags $(CUSTOM_TAGS) -o $@ ./cmd/telegraf

# The servers the end-to-end tests run: InfluxDB 1.x, Prometheus and its
# promtool.
servers: $(BIN)/influxd $(BIN)/prometheus $(BIN)/promtool

$(BIN)/influxd: FORCE
	$(call pinned,influxd,$(INFLUXDB_VERSION),github.com/influxdata/influxdb/cmd/influxd)

$(BIN)/prometheus: FORCE
	$(call pinned,prometheus,$(PROMETHEUS_VERSION),github.com/prometheus/prometheus/cmd/prometheus)

$(BIN)/promtool: FORCE
	$(call pinned,promtool,$(PROMETHEUS_VERSION),github.com/prometheus/prometheus/cmd/promtool)

# One gather on this host through a real Telegraf and the execd shim.
# Telegraf's --once does not wait for an execd plugin's output; --test
# --test-wait does, and prints each metric behind "> ".
run: build
	@$(BIN)/telegraf --config examples/telegraf.conf --test --test-wait 3 | sed -n 's/^> //p'

# E2E=0 leaves out the end-to-end tests and the servers they need: unit
# tests only. make test says so each time.
E2E ?= 1
TEST_PKGS := $(if $(filter 0,$(E2E)),$(shell $(GO) list ./... | grep -v /e2e$$),./...)

test: build $(if $(filter 0,$(E2E)),,servers $(BIN)/telegraf-tcpconn)
	@echo "make test: $(if $(filter 0,$(E2E)),unit tests only (E2E=0),every test, end to end included; make test E2E=0 runs the unit tests only)"
	$(GO) vet ./...
	# The plugin's stub must still build, and accept every option, elsewhere.
	GOOS=darwin $(GO) vet ./...
	# go test -json, read back as plain go test output plus what it hides:
	# each skipped test, with its reason, and the count per package.
	set -o pipefail; $(GO) test -race -count=1 -timeout 20m -json $(TEST_PKGS) | $(GO) run ./internal/testreport
	# Every benchmark once, with its own correctness checks, so that none rots.
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
	$(MAKE) fuzz-seeds

# A short run of every fuzz target; `make fuzz` runs them longer. A count of
# inputs, not a duration: at the end of a -fuzztime duration, Go 1.26's
# fuzzing coordinator can fail a run that found nothing with "context
# deadline exceeded" (golang/go#75804, fixed in Go 1.27), as it did once in
# CI here; a count has no deadline to race. FuzzGather runs a whole gather
# of a proc tree per input, about 60 a second: FUZZGATHERTIME, when set, is
# its count.
fuzz-seeds:
	$(MAKE) fuzz FUZZTIME=20000x FUZZGATHERTIME=1000x FUZZMINIMIZETIME=2s

fuzz:
	@set -e; for pkg in ./parser ./resolver ./sockdiag ./bpfwalk ./bpftable ./plugins/inputs/tcpconn; do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    time=$(FUZZTIME); \
	    if [ "$$target" = FuzzGather ] && [ -n "$(FUZZGATHERTIME)" ]; then time=$(FUZZGATHERTIME); fi; \
	    echo "fuzz $$pkg $$target $$time"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $$time -fuzzminimizetime $(FUZZMINIMIZETIME) -parallel 2 $$pkg; \
	  done; \
	done

# The go test benchmarks, then the whole-host scale benchmark against the
# peers (bench/scale, BENCHMARKS.md). SIZES chooses its socket counts;
# SIZES= skips it. PROFILE=dir also profiles tcpconn at the largest size.
# BASE=dir adds the tcpconn of another tree (git worktree add dir <rev>),
# to compare two trees in one run.
SIZES   ?= 2k,20k,200k
PROFILE ?=
BASE    ?=

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./parser ./resolver ./sockdiag ./bpfwalk ./bpftable ./plugins/...
	@if [ -n "$(SIZES)" ]; then $(GO) run ./bench/scale -sizes $(SIZES) $(if $(PROFILE),-profile $(PROFILE)) $(if $(BASE),-base $(BASE)); fi

lint:
	@command -v $(BIN)/golangci-lint >/dev/null || GOBIN=$(BIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	$(BIN)/golangci-lint run ./...

fmt:
	gofmt -s -w $$(git ls-files '*.go')

tidy:
	$(GO) mod tidy

# The BPF objects of bpfwalk and bpftable and their Go bindings, committed:
# needs clang, llvm-strip and the libbpf headers (Debian: clang llvm
# libbpf-dev). .ci/check-generated checks that the committed files are what
# this makes.
generate:
	$(GO) generate ./bpfwalk ./bpftable

# The Grafana dashboard examples/grafana/tcpconn.json, from its generator
# (Go only); its test fails when the committed file differs.
.PHONY: dashboard
dashboard:
	$(GO) generate ./examples/grafana

clean:
	rm -rf $(BIN)

FORCE:
