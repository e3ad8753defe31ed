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
# The browser client: the npm package's assets in web/lib, built from these
# sources (the packages `go list -deps ./wasmclient/cmd/pushmap-wasm` names).
WASM      := web/lib/pushmap.wasm
WASM_JS   := web/lib/wasm_exec.js
WASM_SRC  := $(shell find geo wire wasmclient internal/mpack -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum
# What the demo in web/dist is built from; the stamp marks the last build.
WEB_SRC   := $(shell find web/lib web/demo -type f ! -name pushmap.wasm ! -name wasm_exec.js 2>/dev/null) \
	web/build.mjs web/package.json
WEB_STAMP := web/.dist-stamp
NPM_STAMP := web/node_modules/.package-lock.json

CHAOS_COUNT ?= 5
CHAOS_DURATION ?= 60s

.PHONY: chaos cluster-picture all build wasm web deps demo test test-go test-js test-wasm lint bench bench-bin bench-micro bench-quick bench-plot fuzz clean

all: build

## build: the pushmap binary, the .wasm client and the web assets.
build: web
	$(GO) build -o bin/pushmap ./cmd/pushmap

## wasm: the browser client, web/lib/pushmap.wasm, and Go's wasm_exec.js
## beside it (the npm package's assets); rebuilt only when a source changed.
wasm: $(WASM) $(WASM_JS)

# WASM_FLAGS: the browser build (tag pushmap_browser: JavaScript timers in
# place of packages time and context) without inlining, which makes Go's
# wasm larger raw but about 40 KB smaller in brotli (docs/design.md).
# wasmclient/size_test.go builds with the same flags.
WASM_FLAGS := -tags pushmap_browser -trimpath -ldflags='-s -w' -gcflags=all=-l

$(WASM): $(WASM_SRC) $(GOROOT)/VERSION
	GOOS=js GOARCH=wasm $(GO) build $(WASM_FLAGS) -o $@ ./wasmclient/cmd/pushmap-wasm

$(WASM_JS): $(WASM_EXEC)
	cp $< $@

## web: npm packages, then the demo in web/dist (content-hashed files, the
## map libraries, the basemap, the pages), precompressed; nothing is redone
## when no source changed.
web: $(WEB_STAMP)

$(WEB_STAMP): $(NPM_STAMP) $(WASM) $(WASM_JS) $(WEB_SRC)
	cd web && node build.mjs all
	touch $@

$(NPM_STAMP): web/package.json web/package-lock.json
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

## test-js: the JavaScript API and adapters' unit tests in Node, and the
## typings (lib/types) type-checked against the JavaScript and a user's code.
test-js: $(NPM_STAMP)
	cd web && node --test test/
	cd web && npx --no-install tsc -p test/tsconfig.json

## test-wasm: geo, wire and wasmclient tests run as WebAssembly in Node,
## and wasmclient's internal tests again as the browser build (its clock on
## JavaScript's timers).
test-wasm:
	PATH="$(GOROOT)/lib/wasm:$$PATH" NODE_OPTIONS=--experimental-websocket \
		GOOS=js GOARCH=wasm $(GO) test -count=1 -exec=$(GOROOT)/lib/wasm/go_js_wasm_exec $(WASM_PKGS)
	PATH="$(GOROOT)/lib/wasm:$$PATH" GOOS=js GOARCH=wasm \
		$(GO) test -tags pushmap_browser -count=1 -exec=$(GOROOT)/lib/wasm/go_js_wasm_exec ./wasmclient/

## chaos: TestChaos for $(CHAOS_DURATION) (60s): three cluster nodes on a
## real redis-server under a feed without pause, clients given every
## node's URL, kill -9 of nodes and of redis-server in a random loop, then
## every client's map checked against a new node's and every acknowledged
## update found. Then the other fault tests with real processes (kill -9 of
## a node with --data-dir, of a cluster node, of redis-server under each
## appendfsync policy, expiry across downtime) $(CHAOS_COUNT) times each,
## each with a new seed. make test runs each once, TestChaos for 3s.
chaos:
	PUSHMAP_REQUIRE_REDIS=1 PUSHMAP_CHAOS_DURATION=$(CHAOS_DURATION) $(GO) test -race -count=1 -timeout 30m \
		-run '^TestChaos$$' -v ./cmd/pushmap
	PUSHMAP_REQUIRE_REDIS=1 $(GO) test -race -count=$(CHAOS_COUNT) -timeout 30m \
		-run '^(TestKill9MidFeed|TestExpiryAcrossDowntime|TestClusterOneMap|TestClusterClientMovesOn|TestRedisKill9MidFeed)$$' ./cmd/pushmap
	$(GO) test -race -count=$(CHAOS_COUNT) -run '^(TestTornTail|TestSnapshotsBoundTheLog)$$' ./server/wal

# staticcheck, from the module proxy, into bin/ (once per version).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(CURDIR)/bin/staticcheck
STATICCHECK_STAMP := bin/.staticcheck-$(STATICCHECK_VERSION)

$(STATICCHECK_STAMP):
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	touch $@

## lint: formatting, import grouping and the packages' layers (the root's
## tests), go vet and staticcheck natively and for js/wasm, in both modules.
lint: $(STATICCHECK_STAMP)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/node_modules/*')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -count=1 -run '^(TestImportGrouping|TestImportLayers)$$' .
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet $(WASM_PKGS)
	GOOS=js GOARCH=wasm $(GO) vet -tags pushmap_browser ./wasmclient/...
	$(STATICCHECK) ./...
	cd bench && $(STATICCHECK) ./...
	GOOS=js GOARCH=wasm $(STATICCHECK) $(WASM_PKGS)
	GOOS=js GOARCH=wasm $(STATICCHECK) -tags pushmap_browser ./wasmclient/...

## bench-bin: bin/pushmap-bench, the load benchmark, built from its own
## module (bench/); it runs from the repository's root.
bench-bin:
	cd bench && $(GO) build -o ../bin/pushmap-bench ./cmd/pushmap-bench

# Where bench-micro writes the go test -bench outputs, one file each.
MICRO := artifacts/bench/micro
# COMMA is a comma inside a $(call) argument.
COMMA := ,

# gobench runs the go test command $(2) into $(MICRO)/$(1).txt, the command
# on its first line, and shows the output; a failed run shows it and fails.
define gobench
	@echo "\$$ $(2)" > $(MICRO)/$(1).txt
	@$(2) >> $(MICRO)/$(1).txt 2>&1 || { cat $(MICRO)/$(1).txt; exit 1; }
	@cat $(MICRO)/$(1).txt
endef

## bench-micro: the micro-benchmarks of docs/benchmarks.md (server core
## and memory per marker, ingest with Redis, the feed POST's answer, the
## server's CPU per frame with thousands of clients, the cluster's stream and snapshot on Redis, the .wasm's size, the browser in
## Chromium), each
## output into $(MICRO) with its command.
bench-micro: deps web
	rm -rf $(MICRO) && mkdir -p $(MICRO)
	$(call gobench,core,$(GO) test -run '^$$' -bench . -skip MemoryPerMarker -benchmem -count 3 ./wire ./server ./server/internal/store ./internal/outbox ./server/internal/feeditem ./auth)
	$(call gobench,memory,$(GO) test -run '^$$' -bench MemoryPerMarker -benchtime 1x -count 3 ./server)
	$(call gobench,ingest,PUSHMAP_REQUIRE_REDIS=1 $(GO) test -run '^$$' -bench Ingest -benchtime 2s -count 3 ./server/ingest ./server/redisfeed)
	$(call gobench,feedpost,$(GO) test -run '^$$' -bench FeedPOST -benchtime 60x -count 5 ./server/ingest)
	$(call gobench,framecost,$(GO) test -run '^$$' -bench FrameCost -benchtime 40x -count 3 ./server -args -server.frame-clients=2000$(COMMA)10000)
	$(call gobench,cluster,PUSHMAP_REQUIRE_REDIS=1 $(GO) test -run '^$$' -bench '^Benchmark(ClusterStream|ClusterHop|ClusterSnapshot)$$' -benchtime 2s -count 3 ./server/redisfeed)
	$(call gobench,wasm,$(GO) test -run '^$$' -bench WasmSize -benchtime 1x ./wasmclient)
	$(call gobench,browser,PUSHMAP_REQUIRE_BROWSER=1 $(GO) test -run '^$$' -bench Apply1000 -benchtime 7x ./e2e)

## bench: the micro-benchmarks, the browser's first marker and the demo's
## density bytes (each rewrites its own block), then the load benchmark (pushmap against polling,
## broadcast and tile channels), which rewrites every other table and plot
## of docs/benchmarks.md (and docs/bench/: results.json, the plots, the
## micro-benchmarks' outputs). About an hour; see that page.
bench: bench-micro bench-bin
	PUSHMAP_REQUIRE_BROWSER=1 $(GO) test -run '^$$' -bench FirstMarker -benchtime 5x ./e2e -args -e2e.write-docs=$(CURDIR)/docs/benchmarks.md
	PUSHMAP_REQUIRE_BROWSER=1 PUSHMAP_WEB=$(CURDIR)/$(DIST) $(GO) test -run '^$$' -bench DemoDensity -benchtime 3x -timeout 15m ./cmd/pushmap -args -demo.write-docs=$(CURDIR)/docs/benchmarks.md
	bin/pushmap-bench -write-docs -docs docs/benchmarks.md -micro $(MICRO)

## bench-quick: a small load benchmark, under 2 minutes; results, tables and
## plots in artifacts/bench.
bench-quick: bench-bin
	bin/pushmap-bench -quick

## bench-plot: the tables and plots of docs/benchmarks.md again from the
## committed docs/bench/results.json and docs/bench/micro, running nothing.
bench-plot: bench-bin
	bin/pushmap-bench -plot docs/bench/results.json -write-docs -docs docs/benchmarks.md -micro docs/bench/micro -out artifacts/bench

## cluster-picture: docs/clusters-vs-supercluster.svg again, pushmap's
## merged clusters beside supercluster's for the same points and views.
cluster-picture: deps web
	PUSHMAP_REQUIRE_BROWSER=1 $(GO) test -count=1 -run '^TestClusterPicture$$' ./server/internal/store -args -picture=$(CURDIR)/docs/clusters-vs-supercluster.svg

# Every fuzz target, as package:target.
FUZZ := ./wire:FuzzDecode ./wire:FuzzDecodeOps ./geo:FuzzTilesCovering \
	./server/internal/feeditem:FuzzDecodeJSON ./server/internal/feeditem:FuzzDecodeGeoJSON \
	./server/internal/feeditem:FuzzDecodeMsgpack ./server/internal/feeditem:FuzzDecodeMsgpackSameAsReference \
	./server/redisfeed:FuzzDecodeEntry ./server:FuzzParseTilePath ./auth:FuzzVerify
FUZZTIME ?= 30s

## fuzz: a short run ($(FUZZTIME)) of every fuzz target; make test runs their seeds.
fuzz:
	@for f in $(FUZZ); do \
		echo "fuzz $${f#*:} in $${f%%:*}"; \
		$(GO) test -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) "$${f%%:*}" || exit 1; \
	done

clean:
	rm -rf bin $(DIST) $(WASM) $(WASM_JS) $(WEB_STAMP) web/*.tgz
