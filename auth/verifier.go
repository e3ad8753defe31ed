package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// Limits and defaults of a Verifier.
const (
	// MinSecretLen is the fewest bytes an HS256 secret may have: RFC 7518
	// §3.2 asks for a key at least as long as the hash (256 bits).
	MinSecretLen = 32
	// MaxTokenLen is the most bytes of a token Verify looks at; a longer
	// one is refused before it is decoded.
	MaxTokenLen = 8 << 10
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat when
	// Config.Leeway is zero.
	DefaultLeeway = 30 * time.Second
	// DefaultJWKSPoll is how often the JWKS file is checked for changes
	// when Config.JWKSPoll is zero.
	DefaultJWKSPoll = 5 * time.Second
)

// Errors a Verifier's errors wrap, so that callers can tell refusals apart
// (for metrics or a close code) with errors.Is.
var (
	// ErrNoToken: the client presented no credential at all.
	ErrNoToken = errors.New("no token")
	// ErrTokenExpired: a correctly signed token whose exp has passed.
	ErrTokenExpired = errors.New("token expired")
	// ErrTokenInvalid: every other refusal (malformed, bad signature,
	// unknown key, refused algorithm, bad claims).
	ErrTokenInvalid = errors.New("token invalid")
)

// A refusal is an error of Verify: a message fit for the client, which
// never holds a secret or key material, and the kind it wraps.
type refusal struct {
	kind error
	msg  string
}

func (e *refusal) Error() string { return e.msg }
func (e *refusal) Unwrap() error { return e.kind }

func refuse(kind error, format string, args ...any) error {
	return &refusal{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Config says which credentials a Verifier accepts. At least one of
// Secrets, JWKSFile and StaticTokens must be set.
type Config struct {
	// Secrets verify HS256 tokens; a token signed with any of them is
	// accepted, which is how a secret is rotated (see docs/auth.md). Each
	// must be at least MinSecretLen bytes. The Verifier keeps its own copy.
	Secrets [][]byte
	// JWKSFile is a JSON Web Key Set file (RFC 7517, {"keys": [...]}) of
	// the RSA (RS256) and P-256 (ES256) public keys that verify tokens,
	// each chosen by the token's kid header. It is read by NewVerifier,
	// which fails if it is unusable, and then checked every JWKSPoll: a
	// changed file replaces the keys, and a bad one is logged and leaves
	// the keys in force.
	JWKSFile string
	// JWKSPoll is how often JWKSFile is read for changes; zero means
	// DefaultJWKSPoll.
	JWKSPoll time.Duration
	// StaticTokens are fixed tokens each granting everything, forever, for
	// development and tests: they cannot expire, be scoped or be revoked
	// short of a restart. They are kept only as SHA-256 hashes.
	StaticTokens []string
	// Audience, when set, must be one of a token's aud values.
	Audience string
	// Issuer, when set, must be a token's iss.
	Issuer string
	// Leeway is the clock skew allowed when checking exp, nbf and iat:
	// zero means DefaultLeeway, a negative value none.
	Leeway time.Duration
	// Logger receives JWKS reloads and their failures; nil logs nothing.
	Logger *slog.Logger
}

// A Verifier checks client credentials — JWTs signed with HS256, RS256 or
// ES256, and static development tokens — and turns them into Grants. Its
// Authorize method is an Authorizer. It is safe for concurrent use; Close
// stops its JWKS file watcher.
type Verifier struct {
	secrets jwt.VerificationKeySet // HS256 secrets; no Keys: HS256 refused
	static  [][sha256.Size]byte    // hashes of the static tokens
	algs    []string               // the JWT algorithms accepted
	parser  *jwt.Parser
	leeway  time.Duration
	log     *slog.Logger

	jwksFile string
	jwks     atomic.Pointer[keySet] // nil when there is no JWKS file

	reloadMu sync.Mutex // serialises reloads; guards lastHash and lastErr
	lastHash [sha256.Size]byte
	lastErr  string

	stop      chan struct{} // closed by Close; nil without a watcher
	done      chan struct{} // closed when the watcher has stopped
	closeOnce sync.Once
}

var _ Authorizer = (&Verifier{}).Authorize

// NewVerifier returns a Verifier accepting what c describes, or an error
// naming what is wrong with c: no credential at all, an empty or short
// secret, an unreadable or unusable JWKS file. A Verifier with a JWKS file
// watches it until Close.
func NewVerifier(c Config) (*Verifier, error) {
	if len(c.Secrets) == 0 && c.JWKSFile == "" && len(c.StaticTokens) == 0 {
		return nil, errors.New("auth: no HS256 secret, JWKS file or static token: nothing could be verified")
	}
	v := &Verifier{leeway: c.Leeway, log: c.Logger, jwksFile: c.JWKSFile}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	} else if v.leeway < 0 {
		v.leeway = 0
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	for i, s := range c.Secrets {
		switch {
		case len(s) == 0:
			return nil, fmt.Errorf("auth: HS256 secret %d of %d is empty", i+1, len(c.Secrets))
		case len(s) < MinSecretLen:
			return nil, fmt.Errorf("auth: HS256 secret %d of %d is %d bytes, at least %d required (e.g. openssl rand -base64 48)",
				i+1, len(c.Secrets), len(s), MinSecretLen)
		}
		v.secrets.Keys = append(v.secrets.Keys, bytes.Clone(s))
	}
	if len(v.secrets.Keys) > 0 {
		v.algs = append(v.algs, jwt.SigningMethodHS256.Alg())
	}
	for i, t := range c.StaticTokens {
		if t == "" {
			return nil, fmt.Errorf("auth: static token %d of %d is empty", i+1, len(c.StaticTokens))
		}
		v.static = append(v.static, sha256.Sum256([]byte(t)))
	}
	if c.JWKSFile != "" {
		if err := v.Reload(); err != nil {
			return nil, err
		}
		v.algs = append(v.algs, jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg())
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.algs),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(v.leeway),
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	if c.JWKSFile != "" {
		poll := c.JWKSPoll
		if poll <= 0 {
			poll = DefaultJWKSPoll
		}
		v.stop, v.done = make(chan struct{}), make(chan struct{})
		go v.watch(poll)
	}
	return v, nil
}

// Close stops the JWKS file watcher, if any, and waits for it. The
// Verifier still verifies, with the keys it last loaded. Close may be
// called more than once.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		if v.stop != nil {
			close(v.stop)
			<-v.done
		}
	})
	return nil
}

// Authorize is Verify with the signature of an Authorizer; r is not used
// and may be nil.
func (v *Verifier) Authorize(_ *http.Request, token string) (Grant, error) {
	return v.Verify(token)
}

// Verify returns the Grant of token, or an error fit to show the client
// saying why it is refused (wrapping ErrNoToken, ErrTokenExpired or
// ErrTokenInvalid; it never holds a secret or key material).
//
// A static token gives everything, forever: a Grant whose only field is
// Subject "static-token-N", N its place in Config.StaticTokens. A JWT must be
// signed with an algorithm the Config allows (HS256 with a secret, RS256 or
// ES256 with the JWKS key its kid names; never "none", never a key of
// another family) and carry exp; nbf and iat are honoured, aud and iss
// checked when configured. Its Grant has Subject from sub, Layers from
// layers (absent: every layer), Box from box ([west, south, east, north],
// absent: the world), and Expires = exp + the leeway, the moment this
// Verifier starts refusing the token.
func (v *Verifier) Verify(token string) (Grant, error) {
	switch {
	case token == "":
		return Grant{}, refuse(ErrNoToken, "no token: this server requires one")
	case len(token) > MaxTokenLen:
		return Grant{}, refuse(ErrTokenInvalid, "token is %d bytes, at most %d allowed", len(token), MaxTokenLen)
	}
	if len(v.static) > 0 {
		if i := v.staticIndex(token); i > 0 {
			return Grant{Subject: fmt.Sprintf("static-token-%d", i)}, nil
		}
	}
	if len(v.algs) == 0 {
		return Grant{}, refuse(ErrTokenInvalid, "token is not one this server accepts")
	}
	if strings.Count(token, ".") != 2 {
		if len(v.static) > 0 {
			return Grant{}, refuse(ErrTokenInvalid, "token is neither a static token of this server nor a JWT")
		}
		return Grant{}, refuse(ErrTokenInvalid, "token is malformed: not a JWT (header.claims.signature)")
	}
	var c claims
	tok, err := v.parser.ParseWithClaims(token, &c, v.key)
	if err != nil {
		return Grant{}, v.explain(tok, &c, err)
	}
	return v.grant(&c)
}

// staticIndex returns 1 + the index of token among the static tokens, or
// 0. It compares SHA-256 hashes, all of them, in constant time: the time
// taken reveals neither the token's length nor which bytes match.
func (v *Verifier) staticIndex(token string) int {
	h := sha256.Sum256([]byte(token))
	found := 0
	for i := range v.static {
		eq := subtle.ConstantTimeCompare(h[:], v.static[i][:])
		found = subtle.ConstantTimeSelect(eq, i+1, found)
	}
	return found
}

// key returns the keys that may verify t: the HS256 secrets for an HS256
// token, the JWKS key its kid names for RS256 and ES256 when that key is of
// the token's algorithm. Pinning the algorithm to the key is what stops
// algorithm confusion (an RSA public key used as an HMAC secret).
func (v *Verifier) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	switch alg {
	case jwt.SigningMethodHS256.Alg():
		if len(v.secrets.Keys) == 0 {
			return nil, refuse(ErrTokenInvalid, "token algorithm HS256 is not accepted: this server has no HS256 secret")
		}
		return v.secrets, nil
	case jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg():
		ks := v.jwks.Load()
		if ks == nil {
			return nil, refuse(ErrTokenInvalid, "token algorithm %s is not accepted: this server has no JWKS file", alg)
		}
		kid, ok := t.Header["kid"].(string)
		if !ok {
			return nil, refuse(ErrTokenInvalid, "token has no kid header: %s tokens name their key by kid", alg)
		}
		k, ok := ks.keys[kid]
		if !ok {
			return nil, refuse(ErrTokenInvalid, "unknown kid %.40q", kid)
		}
		if k.alg != alg {
			return nil, refuse(ErrTokenInvalid, "token algorithm %s does not match key %.40q, which is %s", alg, kid, k.alg)
		}
		return k.pub, nil
	}
	return nil, refuse(ErrTokenInvalid, "token algorithm %.20q is not accepted", alg)
}

// explain turns an error of the JWT parser into a refusal saying what was
// wrong with the token. c holds whatever claims were decoded.
func (v *Verifier) explain(tok *jwt.Token, c *claims, err error) error {
	var r *refusal
	if errors.As(err, &r) { // from key
		return r
	}
	if tok != nil {
		if alg, _ := tok.Header["alg"].(string); tok.Header != nil && !v.accepts(alg) {
			return refuse(ErrTokenInvalid, "token algorithm %.20q is not accepted (this server takes %s)", alg, strings.Join(v.algs, ", "))
		}
	}
	at := func(d *jwt.NumericDate) string { return d.UTC().Format(time.RFC3339) }
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ErrTokenInvalid, "%v", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ErrTokenInvalid, "signature invalid")
	case c.ExpiresAt == nil:
		return refuse(ErrTokenInvalid, "token has no exp claim")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ErrTokenExpired, "token expired at %s", at(c.ExpiresAt))
	case errors.Is(err, jwt.ErrTokenNotValidYet) && c.NotBefore != nil:
		return refuse(ErrTokenInvalid, "token not valid before %s (nbf)", at(c.NotBefore))
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued) && c.IssuedAt != nil:
		return refuse(ErrTokenInvalid, "token issued in the future, at %s (iat)", at(c.IssuedAt))
	case errors.Is(err, jwt.ErrTokenInvalidAudience), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && len(c.Audience) == 0:
		return refuse(ErrTokenInvalid, "token audience (aud) is not this server's")
	case errors.Is(err, jwt.ErrTokenInvalidIssuer), errors.Is(err, jwt.ErrTokenRequiredClaimMissing) && c.Issuer == "":
		return refuse(ErrTokenInvalid, "token issuer (iss) is not one this server trusts")
	}
	return refuse(ErrTokenInvalid, "%v", err)
}

// accepts reports whether alg is one of the algorithms v accepts.
func (v *Verifier) accepts(alg string) bool { return slices.Contains(v.algs, alg) }

// claims are the claims of a pushmap token. layers and box are kept raw so
// that absent, null and the wrong type can be told apart after the
// signature is checked.
type claims struct {
	jwt.RegisteredClaims
	Layers json.RawMessage `json:"layers"`
	Box    json.RawMessage `json:"box"`
}

// grant returns the Grant of verified claims c, or why they are unusable.
func (v *Verifier) grant(c *claims) (Grant, error) {
	g := Grant{Subject: c.Subject, Expires: c.ExpiresAt.Add(v.leeway)}
	if len(c.Layers) > 0 {
		if err := json.Unmarshal(c.Layers, &g.Layers); err != nil || g.Layers == nil {
			return Grant{}, refuse(ErrTokenInvalid, "layers claim is not an array of layer names (omit it for every layer, [] for none)")
		}
		if err := wire.ValidateLayers(g.Layers); err != nil {
			return Grant{}, refuse(ErrTokenInvalid, "layers claim: %v", err)
		}
	}
	if len(c.Box) > 0 {
		var b []float64
		if err := json.Unmarshal(c.Box, &b); err != nil || len(b) != 4 {
			return Grant{}, refuse(ErrTokenInvalid, "box claim is not [west, south, east, north] in degrees")
		}
		box := geo.BBox(b[0], b[1], b[2], b[3])
		if err := box.Validate(); err != nil {
			return Grant{}, refuse(ErrTokenInvalid, "box claim: %v", err)
		}
		g.Box = &box
	}
	return g, nil
}
