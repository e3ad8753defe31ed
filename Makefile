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

.PHONY: all build wasm web deps demo test test-go test-js test-wasm lint bench bench-quick fuzz clean

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

## demo: the server with a synthetic feed and the demo page on $(ADDR).
demo: web
	$(GO) run ./cmd/pushmap demo --addr $(ADDR)

## test: every test: lint, Go tests with -race (unit, integration, e2e in
## headless Chromium), and the client's tests compiled to WebAssembly.
test: deps web lint test-js test-go test-wasm

test-go:
	PUSHMAP_REQUIRE_BROWSER=1 PUSHMAP_REQUIRE_REDIS=1 PUSHMAP_WEB=$(CURDIR)/$(DIST) \
		$(GO) test -race -count=1 -timeout 15m ./...

## test-js: the JavaScript API and adapters' unit tests in Node.
test-js: web/node_modules/.package-lock.json
	cd web && node --test test/

## test-wasm: geo, wire and wasmclient tests run as WebAssembly in Node.
test-wasm:
	PATH="$(GOROOT)/lib/wasm:$$PATH" NODE_OPTIONS=--experimental-websocket \
		GOOS=js GOARCH=wasm $(GO) test -count=1 -exec=$(GOROOT)/lib/wasm/go_js_wasm_exec $(WASM_PKGS)

## lint: formatting, and go vet natively and for js/wasm.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './web/node_modules/*')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=js GOARCH=wasm $(GO) vet $(WASM_PKGS)

## bench: the micro-benchmarks, then the load benchmark (pushmap against
## polling, broadcast and tile channels), which rewrites its tables and plots
## in docs/benchmarks.md. Under 15 minutes; see that page.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./wire ./server ./internal/outbox ./server/internal/feeditem ./auth
	$(GO) build -o bin/pushmap ./cmd/pushmap
	bin/pushmap bench -write-docs

## bench-quick: a small load benchmark, under 2 minutes; results, tables and
## plots in artifacts/bench.
bench-quick:
	$(GO) build -o bin/pushmap ./cmd/pushmap
	bin/pushmap bench -quick

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
