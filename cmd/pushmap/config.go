package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"path"
	"strings"
	"time"

	"github.com/pushmap/pushmap/auth"
	"github.com/pushmap/pushmap/cmd/pushmap/internal/synth"
	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/ingest"
	"github.com/pushmap/pushmap/server/wal"
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
	// http bounds the HTTP server's requests (node.go).
	http httpLimits

	// Feeds and credentials.
	feedKeys     []string // bearer keys of the HTTP ingest; none: ingest off
	feedKeysFile string   // more feed keys, one a line
	readKeys     []string // keys of GET /feed/markers; none: public

	// Client credentials; with none of them, anyone may connect and read.
	clientTokens   []string // static development tokens, each granting everything
	jwtSecrets     []string // HS256 secrets of client JWTs
	jwtSecretsFile string   // more HS256 secrets, one a line
	jwksFile       string   // RS256/ES256 public keys of client JWTs
	jwtAudience    string   // a JWT's aud must hold it, when set
	jwtIssuer      string   // a JWT's iss must be it, when set
	argvSecrets    bool     // --jwt-secrets was on the command line, which others can read

	opsKeys []string // bearer keys of /stats and /metrics; see ops.go

	// Durability (one node): the write-ahead log's directory ("": markers
	// in memory only) and when it fsyncs.
	dataDir       string
	fsync         string // "always" or "interval"
	fsyncInterval time.Duration
	snapshotBytes int64

	redis       string // Redis URL of the stream emitter; "": off
	redisStream string
	redisGroup  string
	// redisConsumer is this node's name in the group ("": the host name)
	// and redisClaimIdle how long another consumer's entries stay pending
	// before this one claims them (negative: never).
	redisConsumer  string
	redisClaimIdle time.Duration
	// redisMode is "group" (the stream's updates go to this node through
	// its consumer group) or "cluster" (the stream is the log of every
	// write; every node tails all of it).
	redisMode       string
	clusterSnapshot time.Duration

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
			MaxConnections:      100000,
			MaxPending:          1000,
			MaxConnectionsPerIP: 5000,
			MaxPendingPerIP:     100,
			MaxFrameBytes:       16 << 10,
			MaxViews:            4,
			ViewRate:            20,
			ViewBurst:           40,
			Budget:              5000,
			ClusterZoom:         14,
			OutboxBytes:         4 << 20,
			WriteTimeout:        10 * time.Second,
			HelloTimeout:        10 * time.Second,
		},
		http: httpLimits{
			readHeaderTimeout: 10 * time.Second,
			readTimeout:       time.Minute,
			writeTimeout:      2 * time.Minute,
			idleTimeout:       2 * time.Minute,
			maxHeaderBytes:    64 << 10,
		},
		fsync:           "always",
		fsyncInterval:   100 * time.Millisecond,
		snapshotBytes:   64 << 20,
		redisStream:     "pushmap:updates",
		redisMode:       "group",
		clusterSnapshot: 30 * time.Second,
		redisGroup:      "pushmap",
		redisClaimIdle:  time.Minute,
		flights:         synth.DefaultFlights,
		vehicles:        synth.DefaultVehicles,
		interval:        defaultInterval,
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
		{"max-pending", "n", "Most WebSocket connections waiting for their hello at once, counted apart from " +
			"--max-connections; one more is refused with HTTP 503 and Retry-After.",
			intValue[int]{p: &s.MaxPending, min: 1}},
		{"max-connections-per-ip", "n", "Most WebSocket connections from one address (IPv4, or an IPv6 /64), " +
			"with or without hello; one more is refused with HTTP 429 and Retry-After. Behind a reverse proxy, " +
			"whose address every client has, set it and --max-pending-per-ip to --max-connections.",
			intValue[int]{p: &s.MaxConnectionsPerIP, min: 1}},
		{"max-pending-per-ip", "n", "Most WebSocket connections from one address waiting for their hello; " +
			"one more is refused with HTTP 429 and Retry-After.",
			intValue[int]{p: &s.MaxPendingPerIP, min: 1}},
		{"read-header-timeout", "duration", "How long a client may take to send an HTTP request's headers.",
			durationValue{&c.http.readHeaderTimeout, 1}},
		{"read-timeout", "duration", "How long a client may take to send a whole HTTP request, body included " +
			"(a feed's POST); not applied to a WebSocket once it is open.",
			durationValue{&c.http.readTimeout, 1}},
		{"http-write-timeout", "duration", "How long an HTTP answer (a page of markers, a tile, a file) may take " +
			"to send, so that a slow reader cannot hold its memory for long; not applied to a WebSocket, " +
			"whose writes --write-timeout bounds.",
			durationValue{&c.http.writeTimeout, 1}},
		{"idle-timeout", "duration", "How long an idle keep-alive HTTP connection stays open.",
			durationValue{&c.http.idleTimeout, 1}},
		{"max-header-bytes", "size", "Largest HTTP request header, in bytes or with a KiB suffix.",
			sizeValue[int]{&c.http.maxHeaderBytes}},
		{"origins", "patterns", "Comma-separated host patterns (path.Match syntax, e.g. example.com,*.example.org) " +
			"of pages on other hosts whose browsers may connect; pages from this server's own host always may. " +
			"* allows any origin.",
			listValue{&s.OriginPatterns}},
		{"feed-keys", "keys", "Comma-separated bearer keys that feeds must send to the HTTP ingest at /feed/ " +
			"(POST /feed/markers, ...; see docs/feeds.md). A key is secret, for every layer, or " +
			"secret:layer1+layer2, for those layers alone (a batch touching another is refused whole with 403). " +
			"Without any key the HTTP ingest is off. " +
			"Prefer the environment variable or --feed-keys-file to the command line, which others can read.",
			listValue{&c.feedKeys}},
		{"feed-keys-file", "path", "File of more feed keys, one a line as in --feed-keys " +
			"(blank lines and lines starting with # are skipped).",
			stringValue{&c.feedKeysFile, nil}},
		{"read-keys", "keys", "Comma-separated bearer keys for reading markers by box (GET /feed/markers, " +
			"what a polling client would use), secret or secret:layer1+layer2 as feed keys. Without any, and " +
			"without client authentication, the read endpoint is public; with client authentication it also " +
			"takes a client token, and answers only what the token allows.",
			listValue{&c.readKeys}},
		{"jwt-secrets", "secrets", "Comma-separated HS256 secrets, each at least 32 bytes (openssl rand -base64 48), " +
			"that client tokens (JWTs minted by your app; see docs/auth.md) may be signed with. Any of them verifies, " +
			"so a secret is rotated by adding the new one, then removing the old one once its tokens have expired. " +
			"With any of --jwt-secrets, --jwt-secrets-file, --jwks-file or --client-tokens, every client needs a valid " +
			"token (else close 4401); with none, anyone may connect. Give secrets by the environment variable or " +
			"--jwt-secrets-file: the command line is visible to every user of the machine.",
			secretsValue{&c.jwtSecrets}},
		{"jwt-secrets-file", "path", "File of more HS256 secrets, one a line (blank lines and lines starting with # are skipped).",
			stringValue{&c.jwtSecretsFile, nil}},
		{"jwks-file", "path", "JSON Web Key Set file of the RSA (RS256) and P-256 (ES256) public keys that verify " +
			"client tokens, chosen by the token's kid. It is read again every 5s: a changed file replaces the keys, " +
			"and a broken one is logged and ignored.",
			stringValue{&c.jwksFile, nil}},
		{"jwt-audience", "aud", "When set, a client token's aud claim must include it.",
			stringValue{&c.jwtAudience, nil}},
		{"jwt-issuer", "iss", "When set, a client token's iss claim must be it.",
			stringValue{&c.jwtIssuer, nil}},
		{"client-tokens", "tokens", "Comma-separated static tokens a client may send instead of a JWT, each " +
			"granting every layer and area with no expiry: for development only. Never the same as a feed key.",
			listValue{&c.clientTokens}},
		{"ops-keys", "keys", "Comma-separated bearer keys for the operator endpoints /stats and /metrics " +
			"(\"Authorization: Bearer <key>\"). With keys, those endpoints need one; without, they are refused " +
			"with 403 when clients need a credential (--client-tokens, JWT), and public otherwise. " +
			"/healthz and /readyz stay public. Prefer the environment variable to the command line, which others can read.",
			listValue{&c.opsKeys}},
		{"data-dir", "dir", "Directory of the write-ahead log and snapshots that make markers durable: " +
			"a feed's write is acknowledged once it is in the log (see --fsync), and a restart, after a crash " +
			"or kill -9 too, restores every marker with its version, props and expiry (a ttl keeps counting " +
			"while the server is down). Created when missing (mode 0700); one server per directory. " +
			"Empty: markers live in memory only and a restart starts empty.",
			stringValue{&c.dataDir, nil}},
		{"fsync", "policy", "When --data-dir's log is made durable: always (a feed is answered after an fsync " +
			"covering its batch; concurrent batches share one) or interval (answered once written, fsynced every " +
			"--fsync-interval: a kill -9 loses nothing, a crash of the machine or a power cut up to one interval).",
			stringValue{&c.fsync, oneOf("always", "interval")}},
		{"fsync-interval", "duration", "How often --fsync interval fsyncs the log.",
			durationValue{&c.fsyncInterval, time.Millisecond}},
		{"snapshot-bytes", "size", "Log written, in bytes or with a KiB, MiB or GiB suffix, after which a " +
			"snapshot of every marker is taken and the older log deleted; a restart reads at most about this much log.",
			sizeValue[int64]{&c.snapshotBytes}},
		{"redis", "url", "Redis URL (redis://host:6379/0) of the stream feeds write updates to with XADD, " +
			"one command per update from any language (see docs/feeds.md). Empty: off.",
			stringValue{&c.redis, nil}},
		{"redis-stream", "key", "Key of the Redis stream of updates.",
			stringValue{&c.redisStream, checkNotEmpty}},
		{"redis-group", "name", "Consumer group of the Redis stream; every server node that must see every " +
			"update needs a group of its own.",
			stringValue{&c.redisGroup, checkNotEmpty}},
		{"redis-consumer", "name", "This node's name in the consumer group (--redis-mode group): entries it read " +
			"and did not acknowledge are read again under this name after a restart, so keep it across restarts. " +
			"Empty: the host name.",
			stringValue{&c.redisConsumer, nil}},
		{"redis-claim-idle", "duration", "With --redis-mode group, entries another consumer of the group left " +
			"unacknowledged this long are claimed (XAUTOCLAIM) and applied by this node: that consumer is gone. " +
			"0: never.",
			durationValue{&c.redisClaimIdle, 0}},
		{"redis-mode", "mode", "What --redis is for: group (feeds XADD to the stream and this node reads it " +
			"through its consumer group, --redis-group) or cluster (the stream is the log of every write: the HTTP " +
			"ingest and the demo feed of every node XADD to it and answer once Redis has the entry and this node " +
			"applied it, and every node tails the whole stream, so that all nodes hold the same markers; see " +
			"docs/cluster.md).",
			stringValue{&c.redisMode, oneOf("group", "cluster")}},
		{"cluster-snapshot-every", "duration", "With --redis-mode cluster, how often a node writes the snapshot " +
			"of every marker to Redis (key <stream>:snapshot) and trims the stream below it.",
			durationValue{&c.clusterSnapshot, 10 * time.Millisecond}},
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
	c.argvSecrets = given["jwt-secrets"]
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

// newServer returns the server c describes, logging to log, whose clients
// authorize checks (nil: anyone may connect).
func (c *config) newServer(log *slog.Logger, authorize auth.Authorizer) (*server.Server, error) {
	o := c.server
	o.Logger = log
	o.Authorize = authorize
	return server.New(&o)
}

// openLog opens the write-ahead log of --data-dir over srv, restoring its
// markers, logging to log.
func (c *config) openLog(srv *server.Server, log *slog.Logger) (*wal.Log, error) {
	policy, err := wal.ParseFsync(c.fsync)
	if err != nil {
		return nil, err
	}
	return wal.Open(srv, wal.Options{Dir: c.dataDir, Fsync: policy, Interval: c.fsyncInterval,
		SnapshotBytes: c.snapshotBytes, Logger: log})
}

// newVerifier returns the verifier of client credentials the flags ask for
// (JWT secrets, a JWKS file, static tokens), logging to log, or nil when
// they ask for none and anyone may connect. Its errors name the flag.
func (c *config) newVerifier(log *slog.Logger) (*auth.Verifier, error) {
	secrets, err := c.allJWTSecrets()
	if err != nil {
		return nil, err
	}
	if len(secrets) == 0 && c.jwksFile == "" && len(c.clientTokens) == 0 {
		if c.jwtAudience != "" || c.jwtIssuer != "" {
			return nil, errors.New("--jwt-audience and --jwt-issuer need --jwt-secrets, --jwt-secrets-file or --jwks-file")
		}
		return nil, nil
	}
	if c.argvSecrets {
		log.Warn("--jwt-secrets on the command line is visible to every user of this machine; " +
			"prefer the environment variable PUSHMAP_JWT_SECRETS or --jwt-secrets-file")
	}
	if len(c.clientTokens) > 0 {
		log.Warn("static client tokens (--client-tokens) grant everything forever; use them for development only")
	}
	v, err := auth.NewVerifier(auth.Config{
		Secrets:      secrets,
		JWKSFile:     c.jwksFile,
		StaticTokens: c.clientTokens,
		Audience:     c.jwtAudience,
		Issuer:       c.jwtIssuer,
		Logger:       log,
	})
	if err != nil { // the secrets and tokens are checked already: the JWKS file is wrong
		return nil, fmt.Errorf("--jwks-file: %w", err)
	}
	return v, nil
}

// allJWTSecrets returns the HS256 secrets of --jwt-secrets and
// --jwt-secrets-file, or an error naming the one that is too short without
// quoting it.
func (c *config) allJWTSecrets() ([][]byte, error) {
	var secrets [][]byte
	for i, s := range c.jwtSecrets {
		if s == "" {
			return nil, fmt.Errorf("--jwt-secrets (or PUSHMAP_JWT_SECRETS): secret %d of %d is empty (a stray comma?)",
				i+1, len(c.jwtSecrets))
		}
		if len(s) < auth.MinSecretLen {
			return nil, fmt.Errorf("--jwt-secrets (or PUSHMAP_JWT_SECRETS): secret %d of %d is %d bytes, "+
				"at least %d required (openssl rand -base64 48 makes one)", i+1, len(c.jwtSecrets), len(s), auth.MinSecretLen)
		}
		secrets = append(secrets, []byte(s))
	}
	if c.jwtSecretsFile == "" {
		return secrets, nil
	}
	b, err := os.ReadFile(c.jwtSecretsFile)
	if err != nil {
		return nil, fmt.Errorf("--jwt-secrets-file: %w", err)
	}
	n := 0
	for i, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(line) < auth.MinSecretLen {
			return nil, fmt.Errorf("--jwt-secrets-file %s: the secret on line %d is %d bytes, at least %d required "+
				"(openssl rand -base64 48 makes one)", c.jwtSecretsFile, i+1, len(line), auth.MinSecretLen)
		}
		secrets = append(secrets, []byte(line))
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("--jwt-secrets-file %s holds no secret (one a line; lines starting with # are comments)", c.jwtSecretsFile)
	}
	return secrets, nil
}

// allFeedKeys returns the feed keys of --feed-keys and --feed-keys-file,
// each "secret" or "secret:layer1+layer2" (ingest.ParseKey).
func (c *config) allFeedKeys() ([]ingest.Key, error) {
	keys, err := parseKeys("--feed-keys", c.feedKeys)
	if err != nil || c.feedKeysFile == "" {
		return keys, err
	}
	b, err := os.ReadFile(c.feedKeysFile)
	if err != nil {
		return nil, fmt.Errorf("--feed-keys-file: %w", err)
	}
	n := 0
	for line := range strings.SplitSeq(string(b), "\n") {
		n++
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			k, err := ingest.ParseKey(line)
			if err != nil { // the secret is not repeated: the message may be logged
				return nil, fmt.Errorf("--feed-keys-file %s, line %d: %v", c.feedKeysFile, n, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// allReadKeys returns the read keys of --read-keys, in the syntax of feed
// keys.
func (c *config) allReadKeys() ([]ingest.Key, error) { return parseKeys("--read-keys", c.readKeys) }

func parseKeys(flag string, entries []string) ([]ingest.Key, error) {
	keys := make([]ingest.Key, 0, len(entries))
	for i, e := range entries {
		k, err := ingest.ParseKey(e)
		if err != nil {
			return nil, fmt.Errorf("%s: key %d: %v", flag, i+1, err)
		}
		keys = append(keys, k)
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
