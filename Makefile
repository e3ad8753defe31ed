# pushmap's Makefile is thin: every target is what a person would type.
# `make demo` runs the live demo, `make test` every test; both install what
# they need (npm packages, Debian's chromium, the .wasm) on a fresh machine.

GO       ?= go
GOROOT   := $(shell $(GO) env GOROOT)
WASM_EXEC := $(GOROOT)/lib/wasm/wasm_exec.js
DIST     := web/dist
ADDR     ?= localhost:8080
# Packages that build for GOOS=js GOARCH=wasm.
WASM_PKGS := ./geo/... ./wire/... ./wasmclient/...

CHAOS_COUNT ?= 20

.PHONY: chaos all build wasm web deps demo test test-go test-js test-wasm lint bench bench-bin bench-micro bench-quick bench-plot fuzz clean

all: build

## build: the pushmap binary, the .wasm client and the web assets.
build: web
	$(GO) build -o bin/pushmap ./cmd/pushmap

## wasm: the browser client, web/dist/pushmap.wasm, and Go's wasm_exec.js.
wasm:
	mkdir -p $(DIST)
	GOOS=js GOARCH=wasm $(GO) build -trimpath -ldflags='-s -w' -o $(DIST)/pushmap.wasm ./wasmclient/cmd/pushmap-wasm
	cp $(WASM_EXEC) $(DIST)/wasm_exec.js

## web: npm packages, the map libraries, the basemap, the pages, then the
## wasm, all precompressed into web/dist.
web: web/node_modules/.package-lock.json wasm
	cd web && node build.mjs all

web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# Debian packages the tests need: a command each provides, and the package.
DEPS := /usr/bin/chromium:chromium /usr/bin/redis-server:redis-server \
	/usr/bin/redis-cli:redis-tools /usr/lib/python3/dist-packages/redis:python3-redis \
	/usr/lib/python3/dist-packages/msgpack:python3-msgpack /usr/bin/curl:curl

## deps: the Debian packages the tests need (chromium, redis-server, python3-redis,
## python3-msgpack, curl), installed with apt-get when missing.
deps:
	@missing=$$(for d in $(DEPS); do test -e "$${d%%:*}" || echo "$${d##*:}"; done); \
	if [ -n "$$missing" ]; then \
		echo "installing with apt-get:" $$missing; \
		(apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

## demo: the server with a synthetic feed and the demo page on $(ADDR),
## its markers durable in data/demo (a restart picks up where it stopped).
demo: web
	mkdir -p data
	$(GO) run ./cmd/pushmap demo --addr $(ADDR) --data-dir data/demo

## test: every test: lint, Go tests with -race (unit, integration, e2e in
## headless Chromium), and the client's tests compiled to WebAssembly.
test: deps web lint test-js test-go test-wasm

# The load benchmark is a module of its own (bench/); its tests, smoke runs
# that check recall and precision against a real server, run here too.
test-go:
	PUSHMAP_REQUIRE_BROWSER=1 PUSHMAP_REQUIRE_REDIS=1 PUSHMAP_WEB=$(CURDIR)/$(DIST) \
		$(GO) test -race -count=1 -timeout 15m ./...
	cd bench && $(GO) test -race -count=1 -timeout 10m ./...

## test-js: the JavaScript API and adapters' unit tests in Node.
test-js: web/node_modules/.package-lock.json
	cd web && node --test test/

## test-wasm: geo, wire and wasmclient tests run as WebAssembly in Node.
test-wasm:
	PATH="$(GOROOT)/lib/wasm:$$PATH" NODE_OPTIONS=--experimental-websocket \
		GOOS=js GOARCH=wasm $(GO) test -count=1 -exec=$(GOROOT)/lib/wasm/go_js_wasm_exec $(WASM_PKGS)

## chaos: the fault tests with real processes (kill -9 of a node with
## --data-dir and of a cluster node mid-feed, Redis down and back, expiry
## across downtime) $(CHAOS_COUNT) times each, each with a new seed; make test
## runs them once.
chaos:
	PUSHMAP_REQUIRE_REDIS=1 $(GO) test -race -count=$(CHAOS_COUNT) -timeout 30m \
		-run '^(TestKill9MidFeed|TestExpiryAcrossDowntime|TestClusterOneMap)$$' ./cmd/pushmap
	$(GO) test -race -count=$(CHAOS_COUNT) -run '^(TestTornTail|TestSnapshotsBoundTheLog)$$' ./server/wal

## lint: formatting, and go vet natively and for js/wasm, in both modules.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/node_modules/*')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet $(WASM_PKGS)

## bench-bin: bin/pushmap-bench, the load benchmark, built from its own
## module (bench/); it runs from the repository's root.
bench-bin:
	cd bench && $(GO) build -o ../bin/pushmap-bench ./cmd/pushmap-bench

# Where bench-micro writes the go test -bench outputs, one file each.
MICRO := artifacts/bench/micro

# gobench runs the go test command $(2) into $(MICRO)/$(1).txt, the command
# on its first line, and shows the output; a failed run shows it and fails.
define gobench
	@echo "\$$ $(2)" > $(MICRO)/$(1).txt
	@$(2) >> $(MICRO)/$(1).txt 2>&1 || { cat $(MICRO)/$(1).txt; exit 1; }
	@cat $(MICRO)/$(1).txt
endef

## bench-micro: the micro-benchmarks of docs/benchmarks.md (server core,
## ingest with Redis, the .wasm's size, the browser in Chromium), each
## output into $(MICRO) with its command.
bench-micro: deps web
	rm -rf $(MICRO) && mkdir -p $(MICRO)
	$(call gobench,core,$(GO) test -run '^$$' -bench . -benchmem -count 3 ./wire ./server ./internal/outbox ./server/internal/feeditem)
	$(call gobench,ingest,PUSHMAP_REQUIRE_REDIS=1 $(GO) test -run '^$$' -bench Ingest -benchtime 2s -count 3 ./server/ingest ./server/redisfeed)
	$(call gobench,wasm,$(GO) test -run '^$$' -bench WasmSize -benchtime 1x ./wasmclient)
	$(call gobench,browser,PUSHMAP_REQUIRE_BROWSER=1 $(GO) test -run '^$$' -bench . -benchtime 7x ./e2e)

## bench: the micro-benchmarks, then the load benchmark (pushmap against
## polling, broadcast and tile channels), which rewrites every table and plot
## of docs/benchmarks.md (and docs/bench/: results.json, the plots, the
## micro-benchmarks' outputs). Under 15 minutes; see that page.
bench: bench-micro bench-bin
	bin/pushmap-bench -write-docs -docs docs/benchmarks.md -micro $(MICRO)

## bench-quick: a small load benchmark, under 2 minutes; results, tables and
## plots in artifacts/bench.
bench-quick: bench-bin
	bin/pushmap-bench -quick

## bench-plot: the tables and plots of docs/benchmarks.md again from the
## committed docs/bench/results.json and docs/bench/micro, running nothing.
bench-plot: bench-bin
	bin/pushmap-bench -plot docs/bench/results.json -write-docs -docs docs/benchmarks.md -micro docs/bench/micro -out artifacts/bench

# Every fuzz target, as package:target.
FUZZ := ./wire:FuzzDecode ./wire:FuzzDecodeOps ./geo:FuzzTilesCovering \
	./server/internal/feeditem:FuzzDecodeJSON ./server/internal/feeditem:FuzzDecodeGeoJSON \
	./server/internal/feeditem:FuzzDecodeMsgpack ./server/redisfeed:FuzzDecodeEntry ./server:FuzzParseTilePath ./auth:FuzzVerify
FUZZTIME ?= 30s

## fuzz: a short run ($(FUZZTIME)) of every fuzz target; make test runs their seeds.
fuzz:
	@for f in $(FUZZ); do \
		echo "fuzz $${f#*:} in $${f%%:*}"; \
		$(GO) test -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) "$${f%%:*}" || exit 1; \
	done

clean:
	rm -rf bin $(DIST)
