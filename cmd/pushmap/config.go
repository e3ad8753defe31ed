package main

import (
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/cmd/pushmap/internal/synth"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/wire"
)

// config is what serve and demo run with, read from flags and environment
// variables by parseConfig.
type config struct {
	addr      string // host:port to listen on
	wsPath    string // URL path of the WebSocket endpoint
	web       string // directory served at "/", or ""
	logLevel  string // debug, info, warn or error
	logFormat string // text or json

	// server is passed to server.New, with Logger set by newServer.
	server server.Options

	// Feeds and credentials.
	feedKeys     []string // bearer keys of the HTTP ingest; none: ingest off
	feedKeysFile string   // more feed keys, one a line
	readKeys     []string // keys of GET /feed/markers; none: public
	clientTokens []string // tokens a client's hello must carry; none: anyone
	opsKeys      []string // bearer keys of /stats and /metrics; see ops.go
	redis        string   // Redis URL of the stream emitter; "": off
	redisStream  string
	redisGroup   string

	// The synthetic feed, demo only.
	flights, vehicles int // 0 means none
	interval          time.Duration
	seed              int64
}

// A flagDef is one flag of serve or demo: its name (from which its
// environment variable's is derived), a placeholder for its value in the
// help, what it does, and where its value goes.
type flagDef struct {
	name, arg, usage string
	value            flag.Value
}

// env returns the environment variable that sets the flag when it is not
// given: PUSHMAP_ and the name in upper case, dashes as underscores.
func (d flagDef) env() string {
	return "PUSHMAP_" + strings.ToUpper(strings.ReplaceAll(d.name, "-", "_"))
}

// Default values of the flags that are not the server's or the synthetic
// feed's own defaults.
const (
	defaultAddr       = "localhost:8080"
	defaultWSPath     = "/ws"
	defaultDemoWeb    = "web/dist"
	defaultInterval   = 500 * time.Millisecond
	defaultDemoBudget = 1000
	minInterval       = 10 * time.Millisecond
)

// flags sets c to the defaults of command cmd ("serve" or "demo") and
// returns cmd's flags, bound to c's fields. It is the one place where the
// command line, the environment and server.Options meet.
//
// The server limits' defaults repeat those documented on server.Options, so
// that --help shows the values in force.
func (c *config) flags(cmd string) []flagDef {
	*c = config{
		addr:      defaultAddr,
		wsPath:    defaultWSPath,
		logLevel:  "info",
		logFormat: "text",
		server: server.Options{
			MaxConnections: 100000,
			MaxFrameBytes:  16 << 10,
			MaxViews:       4,
			ViewRate:       20,
			ViewBurst:      40,
			Budget:         5000,
			ClusterZoom:    14,
			OutboxBytes:    4 << 20,
			WriteTimeout:   10 * time.Second,
			HelloTimeout:   10 * time.Second,
		},
		redisStream: "pushmap:updates",
		redisGroup:  "pushmap",
		flights:     synth.DefaultFlights,
		vehicles:    synth.DefaultVehicles,
		interval:    defaultInterval,
	}
	s := &c.server
	defs := []flagDef{
		{"addr", "host:port", "Address to listen on. The default accepts connections from this machine only, " +
			"so a server started by hand is not open to the network; use :8080 to listen on every interface.",
			stringValue{&c.addr, checkAddr}},
		{"ws-path", "path", "URL path of the WebSocket endpoint map clients connect to. " +
			"The demo page connects to /ws unless its URL says ?ws=.",
			stringValue{&c.wsPath, checkWSPath}},
		{"max-connections", "n", "Most WebSocket connections at once; one more is closed at once " +
			"with close code 1013 (try again later).",
			intValue[int]{p: &s.MaxConnections, min: 1}},
		{"max-frame-bytes", "size", "Largest frame a client may send, in bytes or with a KiB or MiB suffix; " +
			"a larger one closes the connection with 1009 (message too big).",
			sizeValue[int64]{&s.MaxFrameBytes}},
		{"max-views", "n", fmt.Sprintf("Most views (maps) one connection may hold at once, 1 to %d.", wire.MaxViewID+1),
			intValue[int]{p: &s.MaxViews, min: 1, max: wire.MaxViewID + 1}},
		{"view-rate", "per-second", "View changes a connection may send per second on average; more are refused " +
			"with error rate_limited, and a client that keeps flooding is closed with 4003.",
			floatValue{&s.ViewRate}},
		{"view-burst", "n", "View changes a connection may send at once before --view-rate applies.",
			intValue[int]{p: &s.ViewBurst, min: 1}},
		{"budget", "n", "Most markers sent for one view; a view holding more is sent at most this many " +
			"clusters (counts and centroids per tile of a finer zoom) instead.",
			intValue[int]{p: &s.Budget, min: 1}},
		{"cluster-zoom", "zoom", "Finest zoom, 1 to 24, at which marker counts are kept for clusters; " +
			"each marker costs one count per zoom level up to it.",
			intValue[int]{p: &s.ClusterZoom, min: 1, max: 24}},
		{"density-layer", "name", "Name of the tile layer of density tiles the server renders at " +
			"/tiles/density/{z}/{x}/{y}.png; clients seeing that layer are told every second which tiles " +
			"changed. Empty: no density tiles.",
			stringValue{&s.DensityLayer, nil}},
		{"outbox-bytes", "size", "Most bytes that may wait unsent for one connection, in bytes or with a KiB or " +
			"MiB suffix; a client further behind has its backlog dropped and gets a fresh snapshot (a reset).",
			sizeValue[int]{&s.OutboxBytes}},
		{"write-timeout", "duration", "How long one write to a client may block before the client is deemed " +
			"gone and closed (a Go duration such as 500ms, 10s or 1m).",
			durationValue{&s.WriteTimeout, 1}},
		{"hello-timeout", "duration", "How long a new connection has to send its hello before it is closed.",
			durationValue{&s.HelloTimeout, 1}},
		{"origins", "patterns", "Comma-separated host patterns (path.Match syntax, e.g. example.com,*.example.org) " +
			"of pages on other hosts whose browsers may connect; pages from this server's own host always may. " +
			"* allows any origin.",
			listValue{&s.OriginPatterns}},
		{"feed-keys", "keys", "Comma-separated bearer keys that feeds must send to the HTTP ingest at /feed/ " +
			"(POST /feed/markers, ...; see docs/feeds.md). Without any key the HTTP ingest is off. " +
			"Prefer the environment variable or --feed-keys-file to the command line, which others can read.",
			listValue{&c.feedKeys}},
		{"feed-keys-file", "path", "File of more feed keys, one a line (blank lines and lines starting with # are skipped).",
			stringValue{&c.feedKeysFile, nil}},
		{"read-keys", "keys", "Comma-separated bearer keys for reading markers by box (GET /feed/markers, " +
			"what a polling client would use). Without any the read endpoint is public.",
			listValue{&c.readKeys}},
		{"client-tokens", "tokens", "Comma-separated tokens map clients must send in their hello; a client " +
			"without a valid one is closed with 4401. Never the same as a feed key. Without any, anyone may connect.",
			listValue{&c.clientTokens}},
		{"ops-keys", "keys", "Comma-separated bearer keys for the operator endpoints /stats and /metrics " +
			"(\"Authorization: Bearer <key>\"). With keys, those endpoints need one; without, they are refused " +
			"with 403 when clients need a credential (--client-tokens, JWT), and public otherwise. " +
			"/healthz and /readyz stay public. Prefer the environment variable to the command line, which others can read.",
			listValue{&c.opsKeys}},
		{"redis", "url", "Redis URL (redis://host:6379/0) of the stream feeds write updates to with XADD, " +
			"one command per update from any language (see docs/feeds.md). Empty: off.",
			stringValue{&c.redis, nil}},
		{"redis-stream", "key", "Key of the Redis stream of updates.",
			stringValue{&c.redisStream, checkNotEmpty}},
		{"redis-group", "name", "Consumer group of the Redis stream; every server node that must see every " +
			"update needs a group of its own.",
			stringValue{&c.redisGroup, checkNotEmpty}},
		{"log-level", "level", "Least severity logged: debug, info, warn or error.",
			stringValue{&c.logLevel, oneOf("debug", "info", "warn", "error")}},
		{"log-format", "format", "Format of the log on standard error: text (key=value pairs) or json " +
			"(one object a line).",
			stringValue{&c.logFormat, oneOf("text", "json")}},
	}
	if cmd != "demo" {
		return append(defs, flagDef{"web", "dir", "Directory of static files to serve at /, such as a built " +
			"web/dist, with their precompressed .br and .gz variants. Without it serve answers only the " +
			"WebSocket endpoint and the operator endpoints (/healthz, /readyz, /stats, /metrics).",
			stringValue{&c.web, nil}})
	}
	c.web = defaultDemoWeb
	s.DensityLayer = "density"
	// A world of 4,500 markers shows as clusters until a region is zoomed.
	s.Budget = defaultDemoBudget
	return append(defs,
		flagDef{"web", "dir", "Directory of the built demo page, served at /; `make demo` builds it. " +
			"A relative path is taken from the current directory.",
			stringValue{&c.web, checkNotEmpty}},
		flagDef{"flights", "n", "Simulated aircraft flying great circles between world cities, " +
			"in layer flights; 0 for none.",
			intValue[int]{p: &c.flights}},
		flagDef{"vehicles", "n", "Simulated cars, taxis and buses driving city street grids, " +
			"in layer vehicles; 0 for none.",
			intValue[int]{p: &c.vehicles}},
		flagDef{"interval", "duration", fmt.Sprintf("Time between two steps of the feed, each pushing "+
			"every marker that moved. The default moves markers twice a second, smooth on a map at a "+
			"modest update rate (about 2 x (flights + vehicles) updates a second); at least %v.", minInterval),
			durationValue{&c.interval, minInterval}},
		flagDef{"seed", "n", "Seed of the simulation: the same seed gives the same fleet and routes.",
			intValue[int64]{p: &c.seed, min: math.MinInt64}},
	)
}

func checkAddr(s string) error {
	if _, _, err := net.SplitHostPort(s); err != nil {
		return errors.New("not host:port, such as localhost:8080 or :8080")
	}
	return nil
}

func checkWSPath(p string) error {
	switch {
	case !strings.HasPrefix(p, "/") || path.Clean(p) != p || strings.ContainsAny(p, " \t{}"):
		return errors.New("must be a clean absolute URL path such as /ws")
	case p == "/" || p == "/healthz" || p == "/readyz" || p == "/stats" || p == "/metrics":
		return fmt.Errorf("%s is taken", p)
	}
	return nil
}

func checkNotEmpty(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	return nil
}

// parseConfig reads the flags of command cmd from args, then sets every flag
// not given from its environment variable, looked up with getenv; a variable
// set to "" counts as unset. It returns flag.ErrHelp when args ask for help,
// and otherwise an error naming the flag or variable that is wrong.
func parseConfig(cmd string, args []string, getenv func(string) (string, bool)) (*config, error) {
	c := new(config)
	defs := c.flags(cmd)
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, d := range defs {
		fs.Var(d.value, d.name, d.usage)
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q: %s takes only flags", fs.Arg(0), cmd)
	}
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, d := range defs {
		if given[d.name] {
			continue
		}
		if v, ok := getenv(d.env()); ok && v != "" {
			if err := d.value.Set(v); err != nil {
				return nil, fmt.Errorf("invalid value %q for environment variable %s (flag --%s): %v", v, d.env(), d.name, err)
			}
		}
	}
	return c, nil
}

// printFlags writes the help of cmd's flags to w.
func printFlags(w io.Writer, cmd string) {
	fmt.Fprintln(w, "Flags (each can instead be set by the environment variable shown; a flag given")
	fmt.Fprintln(w, "on the command line wins over its variable, and an empty variable is ignored):")
	for _, d := range new(config).flags(cmd) {
		def := d.value.String()
		if def == "" {
			def = "none"
		}
		fmt.Fprintf(w, "\n  --%s %s\n", d.name, d.arg)
		fmt.Fprintf(w, "        env %s, default %s\n", d.env(), def)
		wrap(w, "        ", 80, d.usage)
	}
}

// wrap writes text to w in lines of at most width bytes (unless a word is
// longer), each starting with indent.
func wrap(w io.Writer, indent string, width int, text string) {
	line := indent
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			fmt.Fprintln(w, line)
			line = indent
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		fmt.Fprintln(w, line)
	}
}

// logger returns the logger c asks for, writing to w.
func (c *config) logger(w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		level = slog.LevelInfo // unreachable: the flag accepts only valid levels
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// newServer returns the server c describes, logging to log.
func (c *config) newServer(log *slog.Logger) (*server.Server, error) {
	o := c.server
	o.Logger = log
	if len(c.clientTokens) > 0 {
		o.Authorize = tokenChecker(c.clientTokens)
	}
	return server.New(&o)
}

// tokenChecker returns a server.Options.Authorize accepting the tokens,
// compared in constant time, each with a grant to read everything.
func tokenChecker(tokens []string) auth.Authorizer {
	return func(_ *http.Request, token string) (auth.Grant, error) {
		ok := 0
		for _, t := range tokens {
			ok |= subtle.ConstantTimeCompare([]byte(t), []byte(token))
		}
		if ok == 0 {
			return auth.Grant{}, errors.New("the hello's token is not one this server accepts")
		}
		return auth.Grant{}, nil
	}
}

// allFeedKeys returns the feed keys of --feed-keys and --feed-keys-file.
func (c *config) allFeedKeys() ([]string, error) {
	keys := slices.Clone(c.feedKeys)
	if c.feedKeysFile == "" {
		return keys, nil
	}
	b, err := os.ReadFile(c.feedKeysFile)
	if err != nil {
		return nil, fmt.Errorf("--feed-keys-file: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			keys = append(keys, line)
		}
	}
	return keys, nil
}

// fleet returns the synthetic feed's options.
func (c *config) fleet() synth.Options {
	none := func(n int) int { // synth reads 0 as its default, and a negative count as none
		if n == 0 {
			return -1
		}
		return n
	}
	return synth.Options{Flights: none(c.flights), Vehicles: none(c.vehicles), Seed: c.seed}
}
