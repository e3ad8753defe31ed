package main

import (
	"context"
	"errors"
	"flag"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/cmd/pushmap/internal/synth"
	"github.com/pushmap/pushmap/server"
)

// mapEnv looks variables up in env.
func mapEnv(env map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := env[k]; return v, ok }
}

func TestParseConfig(t *testing.T) {
	serveDefaults := func() config {
		var c config
		c.flags("serve")
		return c
	}
	demoDefaults := func() config {
		var c config
		c.flags("demo")
		return c
	}
	tests := []struct {
		name string
		cmd  string
		args []string
		env  map[string]string
		want func(*config) // edits the defaults into the config expected
	}{
		{name: "serve defaults", cmd: "serve", want: func(*config) {}},
		{name: "demo defaults", cmd: "demo", want: func(*config) {}},
		{
			name: "every serve flag", cmd: "serve",
			args: []string{
				"--addr", "127.0.0.1:9", "--ws-path", "/live", "--max-connections", "7",
				"--max-frame-bytes", "2KiB", "--max-views", "256", "--view-rate", "2.5", "--view-burst", "3",
				"--budget", "11", "--outbox-bytes", "1MiB", "--write-timeout", "1500ms", "--hello-timeout", "2s",
				"--origins", " a.example , *.b.example ,", "--log-level", "debug", "--log-format", "json",
				"--web", "site", "--max-pending", "4", "--max-connections-per-ip", "5", "--max-pending-per-ip", "2",
				"--read-header-timeout", "1s", "--read-timeout", "2s", "--http-write-timeout", "3s",
				"--idle-timeout", "4s", "--max-header-bytes", "8KiB",
			},
			want: func(c *config) {
				c.addr, c.wsPath, c.web, c.logLevel, c.logFormat = "127.0.0.1:9", "/live", "site", "debug", "json"
				c.server = server.Options{
					MaxConnections: 7, MaxFrameBytes: 2048, MaxViews: 256, ViewRate: 2.5, ViewBurst: 3,
					Budget: 11, ClusterZoom: 14, OutboxBytes: 1 << 20, WriteTimeout: 1500 * time.Millisecond,
					HelloTimeout: 2 * time.Second, OriginPatterns: []string{"a.example", "*.b.example"},
					MaxPending: 4, MaxConnectionsPerIP: 5, MaxPendingPerIP: 2,
				}
				c.http = httpLimits{readHeaderTimeout: time.Second, readTimeout: 2 * time.Second,
					writeTimeout: 3 * time.Second, idleTimeout: 4 * time.Second, maxHeaderBytes: 8 << 10}
			},
		},
		{
			name: "single dash and = forms", cmd: "serve",
			args: []string{"-budget=12", "--max-frame-bytes=100"},
			want: func(c *config) { c.server.Budget, c.server.MaxFrameBytes = 12, 100 },
		},
		{
			name: "demo flags", cmd: "demo",
			args: []string{"--flights", "0", "--vehicles", "5", "--interval", "50ms", "--seed", "-3", "--web", "dist"},
			want: func(c *config) {
				c.flights, c.vehicles, c.interval, c.seed, c.web = 0, 5, 50*time.Millisecond, -3, "dist"
			},
		},
		{
			name: "environment", cmd: "demo",
			env: map[string]string{
				"PUSHMAP_ADDR": ":0", "PUSHMAP_WS_PATH": "/x/y", "PUSHMAP_MAX_CONNECTIONS": "9",
				"PUSHMAP_MAX_FRAME_BYTES": "4096", "PUSHMAP_MAX_VIEWS": "2", "PUSHMAP_VIEW_RATE": "1e1",
				"PUSHMAP_VIEW_BURST": "5", "PUSHMAP_BUDGET": "6", "PUSHMAP_OUTBOX_BYTES": "64kib",
				"PUSHMAP_WRITE_TIMEOUT": "1m", "PUSHMAP_HELLO_TIMEOUT": "3s", "PUSHMAP_ORIGINS": "*",
				"PUSHMAP_LOG_LEVEL": "warn", "PUSHMAP_LOG_FORMAT": "json", "PUSHMAP_WEB": "/srv/www",
				"PUSHMAP_FLIGHTS": "1", "PUSHMAP_VEHICLES": "0", "PUSHMAP_INTERVAL": "1s", "PUSHMAP_SEED": "42",
				"PUSHMAP_MAX_PENDING": "8", "PUSHMAP_READ_TIMEOUT": "5s",
			},
			want: func(c *config) {
				c.addr, c.wsPath, c.web, c.logLevel, c.logFormat = ":0", "/x/y", "/srv/www", "warn", "json"
				c.server = server.Options{
					MaxConnections: 9, MaxFrameBytes: 4096, MaxViews: 2, ViewRate: 10, ViewBurst: 5,
					Budget: 6, ClusterZoom: 14, DensityLayer: "density", OutboxBytes: 64 << 10, WriteTimeout: time.Minute,
					HelloTimeout: 3 * time.Second, OriginPatterns: []string{"*"},
					MaxPending: 8, MaxConnectionsPerIP: 5000, MaxPendingPerIP: 100,
				}
				c.http.readTimeout = 5 * time.Second
				c.flights, c.vehicles, c.interval, c.seed = 1, 0, time.Second, 42
			},
		},
		{
			name: "flag beats environment", cmd: "serve",
			args: []string{"--budget", "8", "--addr", "127.0.0.1:1"},
			env:  map[string]string{"PUSHMAP_BUDGET": "9", "PUSHMAP_ADDR": "bad address", "PUSHMAP_MAX_VIEWS": "3"},
			want: func(c *config) { c.server.Budget, c.addr, c.server.MaxViews = 8, "127.0.0.1:1", 3 },
		},
		{
			name: "empty variables are ignored", cmd: "demo",
			env:  map[string]string{"PUSHMAP_WEB": "", "PUSHMAP_BUDGET": "", "PUSHMAP_ORIGINS": ""},
			want: func(*config) {},
		},
		{
			name: "other variables are ignored", cmd: "serve",
			env:  map[string]string{"PUSHMAP_FLIGHTS": "x", "PUSHMAP_SEED": "y", "BUDGET": "z"},
			want: func(*config) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseConfig(tt.cmd, tt.args, mapEnv(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			want := serveDefaults()
			if tt.cmd == "demo" {
				want = demoDefaults()
			}
			tt.want(&want)
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  string
		args []string
		env  map[string]string
		want []string // substrings of the error
	}{
		{name: "negative", cmd: "serve", args: []string{"--max-connections", "-1"}, want: []string{"-max-connections", "must be positive"}},
		{name: "zero", cmd: "serve", args: []string{"--budget", "0"}, want: []string{"-budget", "must be positive"}},
		{name: "not a number", cmd: "serve", args: []string{"--view-burst", "many"}, want: []string{"-view-burst", "not an integer"}},
		{name: "out of range", cmd: "demo", args: []string{"--seed", "99999999999999999999"}, want: []string{"-seed", "out of range"}},
		{name: "too many views", cmd: "serve", args: []string{"--max-views", "257"}, want: []string{"-max-views", "between 1 and 256"}},
		{name: "rate not finite", cmd: "serve", args: []string{"--view-rate", "NaN"}, want: []string{"-view-rate", "not a finite number"}},
		{name: "rate negative", cmd: "serve", args: []string{"--view-rate", "-2"}, want: []string{"-view-rate", "must be positive"}},
		{name: "size unit", cmd: "serve", args: []string{"--outbox-bytes", "4MB"}, want: []string{"-outbox-bytes", "not a size"}},
		{name: "size negative", cmd: "serve", args: []string{"--max-frame-bytes", "-1KiB"}, want: []string{"-max-frame-bytes", "must be positive"}},
		{name: "size too large", cmd: "serve", args: []string{"--max-frame-bytes", "9999999999GiB"}, want: []string{"-max-frame-bytes", "too large"}},
		{name: "duration", cmd: "serve", args: []string{"--write-timeout", "10"}, want: []string{"-write-timeout", "not a duration"}},
		{name: "duration zero", cmd: "serve", args: []string{"--hello-timeout", "0s"}, want: []string{"-hello-timeout", "must be positive"}},
		{name: "log level", cmd: "serve", args: []string{"--log-level", "loud"}, want: []string{"-log-level", "debug, info, warn, error"}},
		{name: "log format", cmd: "serve", args: []string{"--log-format", "xml"}, want: []string{"-log-format", "text, json"}},
		{name: "addr", cmd: "serve", args: []string{"--addr", "8080"}, want: []string{"-addr", "host:port"}},
		{name: "ws path relative", cmd: "serve", args: []string{"--ws-path", "ws"}, want: []string{"-ws-path", "absolute"}},
		{name: "ws path taken", cmd: "serve", args: []string{"--ws-path", "/healthz"}, want: []string{"-ws-path", "/healthz is taken"}},
		{name: "ws path unclean", cmd: "serve", args: []string{"--ws-path", "/a/../ws"}, want: []string{"-ws-path"}},
		{name: "interval short", cmd: "demo", args: []string{"--interval", "1ms"}, want: []string{"-interval", "at least 10ms"}},
		{name: "flights negative", cmd: "demo", args: []string{"--flights", "-5"}, want: []string{"-flights", "must not be negative"}},
		{name: "demo web empty", cmd: "demo", args: []string{"--web", ""}, want: []string{"-web", "must not be empty"}},
		{name: "demo flag on serve", cmd: "serve", args: []string{"--seed", "1"}, want: []string{"not defined: -seed"}},
		{name: "argument", cmd: "serve", args: []string{"now"}, want: []string{`unexpected argument "now"`}},
		{name: "env negative", cmd: "serve", env: map[string]string{"PUSHMAP_MAX_CONNECTIONS": "-1"}, want: []string{"PUSHMAP_MAX_CONNECTIONS", "--max-connections", "must be positive"}},
		{name: "env unparsable", cmd: "serve", env: map[string]string{"PUSHMAP_WRITE_TIMEOUT": "soon"}, want: []string{"PUSHMAP_WRITE_TIMEOUT", "--write-timeout", `"soon"`, "not a duration"}},
		{name: "env demo", cmd: "demo", env: map[string]string{"PUSHMAP_VEHICLES": "lots"}, want: []string{"PUSHMAP_VEHICLES", "--vehicles"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.cmd, tt.args, mapEnv(tt.env))
			if err == nil {
				t.Fatalf("no error; config %+v", *c)
			}
			for _, s := range tt.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q lacks %q", err, s)
				}
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	for _, arg := range []string{"-h", "-help", "--help"} {
		if _, err := parseConfig("serve", []string{"--budget", "3", arg}, mapEnv(nil)); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: error %v, want flag.ErrHelp", arg, err)
		}
	}
}

// TestHelpListsEveryFlag checks that --help shows every flag with its
// environment variable and default, and that the flags are those promised.
func TestHelpListsEveryFlag(t *testing.T) {
	common := []string{
		"addr", "ws-path", "max-connections", "max-frame-bytes", "max-views", "view-rate", "view-burst",
		"budget", "cluster-zoom", "density-layer", "outbox-bytes", "write-timeout", "hello-timeout", "origins",
		"max-pending", "max-connections-per-ip", "max-pending-per-ip", "read-header-timeout", "read-timeout",
		"http-write-timeout", "idle-timeout", "max-header-bytes", "log-level", "log-format", "web",
		"feed-keys", "feed-keys-file", "read-keys", "client-tokens", "ops-keys", "redis", "redis-stream", "redis-group",
		"redis-consumer", "redis-claim-idle",
		"data-dir", "fsync", "fsync-interval", "snapshot-bytes", "redis-mode", "cluster-snapshot-every",
		"jwt-secrets", "jwt-secrets-file", "jwks-file", "jwt-audience", "jwt-issuer",
	}
	for _, tt := range []struct {
		cmd   string
		flags []string
	}{
		{"serve", common},
		{"demo", append(slices.Clone(common), "flights", "vehicles", "interval", "seed")},
	} {
		t.Run(tt.cmd, func(t *testing.T) {
			x, stdout, _ := testCLI(nil)
			if code := x.run(context.Background(), []string{tt.cmd, "--help"}); code != 0 {
				t.Fatalf("exit status %d", code)
			}
			help := stdout.String()
			var c config
			defs := c.flags(tt.cmd)
			var names []string
			for _, d := range defs {
				names = append(names, d.name)
				for _, s := range []string{"--" + d.name + " ", d.env() + ", default "} {
					if !strings.Contains(help, s) {
						t.Errorf("help lacks %q", s)
					}
				}
			}
			slices.Sort(names)
			want := slices.Sorted(slices.Values(tt.flags))
			if !slices.Equal(names, want) {
				t.Errorf("flags %v, want %v", names, want)
			}
		})
	}
}

func TestHelpDefaults(t *testing.T) {
	x, stdout, _ := testCLI(nil)
	x.run(context.Background(), []string{"demo", "--help"})
	for _, s := range []string{
		"PUSHMAP_ADDR, default localhost:8080",
		"PUSHMAP_WS_PATH, default /ws",
		"PUSHMAP_MAX_FRAME_BYTES, default 16KiB",
		"PUSHMAP_OUTBOX_BYTES, default 4MiB",
		"PUSHMAP_WEB, default web/dist",
		"PUSHMAP_INTERVAL, default 500ms",
		"PUSHMAP_ORIGINS, default none",
		"PUSHMAP_MAX_PENDING, default 1000",
		"PUSHMAP_MAX_CONNECTIONS_PER_IP, default 5000",
		"PUSHMAP_MAX_PENDING_PER_IP, default 100",
		"PUSHMAP_READ_HEADER_TIMEOUT, default 10s",
		"PUSHMAP_READ_TIMEOUT, default 1m0s",
		"PUSHMAP_HTTP_WRITE_TIMEOUT, default 2m0s",
		"PUSHMAP_IDLE_TIMEOUT, default 2m0s",
		"PUSHMAP_MAX_HEADER_BYTES, default 64KiB",
	} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("demo --help lacks %q", s)
		}
	}
}

func TestFleetOptions(t *testing.T) {
	tests := []struct {
		flights, vehicles int
		want              synth.Options
	}{
		{0, 0, synth.Options{Flights: -1, Vehicles: -1, Seed: 5}},
		{3, 0, synth.Options{Flights: 3, Vehicles: -1, Seed: 5}},
		{synth.DefaultFlights, synth.DefaultVehicles, synth.Options{Flights: synth.DefaultFlights, Vehicles: synth.DefaultVehicles, Seed: 5}},
	}
	for _, tt := range tests {
		c := config{flights: tt.flights, vehicles: tt.vehicles, seed: 5}
		if got := c.fleet(); got != tt.want {
			t.Errorf("flights %d, vehicles %d: %+v, want %+v", tt.flights, tt.vehicles, got, tt.want)
		}
	}
}

// TestServerAcceptsDefaults checks that server.New accepts the flags'
// defaults, which repeat the server's own.
func TestServerAcceptsDefaults(t *testing.T) {
	var c config
	c.flags("serve")
	srv, err := c.newServer(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
}
