package wasmclient

import (
	"math"

	"github.com/pushmap/pushmap/wire"
)

// refreshID is the request id of refreshes, which have no waiters.
const refreshID = -2

// maxRefreshLead is the most time before a token's expiry that the client
// refreshes it.
const maxRefreshLead = 60 * second

// token returns the token for the next connection: TokenFunc's, or the
// static Token. A token the server refused before is an error: it would
// be refused again.
func (c *Client) token(ctx signal) (string, error) {
	if c.opts.TokenFunc == nil {
		return c.opts.Token, nil
	}
	tok, err := c.opts.TokenFunc(ctx)
	if err != nil {
		return "", wrapf("token function", err)
	}
	c.mu.Lock()
	refused := c.refusedToken
	c.mu.Unlock()
	if refused != "" && tok == refused {
		return "", wrapf("the token function gave the token the server refused again", nil)
	}
	return tok, nil
}

// scheduleRefresh arms the timer that refreshes tok on ws before it
// expires, when tok is a JWT with an expiry and a TokenFunc can make a
// new one.
func (c *Client) scheduleRefresh(ws conn, tok string) {
	if c.opts.TokenFunc == nil {
		return
	}
	exp, ok := jwtExpiry(tok)
	if !ok {
		return
	}
	left := untilUnix(exp)
	if left <= 0 {
		return
	}
	c.armRefresh(ws, left-min(left/4, maxRefreshLead))
}

func (c *Client) armRefresh(ws conn, wait dur) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refreshTimer != nil {
		c.refreshTimer.Stop()
	}
	if c.ws != ws || c.state.State == Closed {
		return
	}
	c.refreshTimer = afterFunc(wait, func() { c.refresh(ws) })
}

// refresh gets a new token and sends it on ws, if ws is still the
// connection; the server's reply is handled as any other.
func (c *Client) refresh(ws conn) {
	ctx, cancel := withTimeout(c.ctx, 15*second)
	defer cancel()
	tok, err := c.opts.TokenFunc(ctx)
	if err != nil {
		c.log.Warn("token refresh failed; retrying", "err", err)
		c.armRefresh(ws, second)
		return
	}
	c.send(ws, wire.Refresh{Token: tok}, request{t: wire.TypeRefresh, id: refreshID})
	c.scheduleRefresh(ws, tok)
}

// indexByte is strings.IndexByte. The client does without package
// strings, whose import links package unicode's tables into the browser's
// .wasm (docs/design.md).
func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// jwtExpiry returns the "exp" claim of a JWT (Unix time in seconds), read
// from its payload without checking its signature (the server does that).
func jwtExpiry(tok string) (float64, bool) {
	// header.payload.signature: exactly two dots.
	first := indexByte(tok, '.')
	if first < 0 {
		return 0, false
	}
	rest := tok[first+1:]
	second := indexByte(rest, '.')
	if second < 0 || indexByte(rest[second+1:], '.') >= 0 {
		return 0, false
	}
	enc := rest[:second]
	for len(enc) > 0 && enc[len(enc)-1] == '=' {
		enc = enc[:len(enc)-1]
	}
	payload, ok := decodeBase64URL(enc)
	if !ok {
		return 0, false
	}
	exp, ok := topLevelNumber(string(payload), "exp")
	if !ok || exp <= 0 || exp > 1<<40 {
		return 0, false
	}
	return exp, true
}

// topLevelNumber returns the number under key in the JSON object doc,
// looking at its top level only. It is a small scanner rather than
// encoding/json, which would add a tenth to the browser build; numbers are
// read by parseNumber, not strconv.ParseFloat, whose exact conversion
// links tables of about 10 KB of brotli.
func topLevelNumber(doc, key string) (float64, bool) {
	s := scanner{s: doc}
	s.space()
	if !s.eat('{') {
		return 0, false
	}
	for {
		s.space()
		if s.eat('}') {
			return 0, false
		}
		k, ok := s.str()
		if !ok {
			return 0, false
		}
		s.space()
		if !s.eat(':') {
			return 0, false
		}
		s.space()
		if k == key {
			start := s.i
			for s.i < len(s.s) && indexByte("+-0123456789.eE", s.s[s.i]) >= 0 {
				s.i++
			}
			return parseNumber(s.s[start:s.i])
		}
		if !s.value(0) {
			return 0, false
		}
		s.space()
		if !s.eat(',') {
			return 0, false
		}
	}
}

type scanner struct {
	s string
	i int
}

func (s *scanner) space() {
	for s.i < len(s.s) && indexByte(" \t\r\n", s.s[s.i]) >= 0 {
		s.i++
	}
}

func (s *scanner) eat(b byte) bool {
	if s.i < len(s.s) && s.s[s.i] == b {
		s.i++
		return true
	}
	return false
}

// str reads a string and returns it unescaped as far as keys need
// (escapes are kept as written: "exp" has none).
func (s *scanner) str() (string, bool) {
	if !s.eat('"') {
		return "", false
	}
	start := s.i
	for s.i < len(s.s) {
		switch s.s[s.i] {
		case '\\':
			s.i += 2
			continue
		case '"':
			s.i++
			return s.s[start : s.i-1], true
		}
		s.i++
	}
	return "", false
}

// value skips one JSON value, nested at most 32 deep.
func (s *scanner) value(depth int) bool {
	if depth > 32 || s.i >= len(s.s) {
		return false
	}
	switch s.s[s.i] {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		closer := byte('}')
		if s.s[s.i] == '[' {
			closer = ']'
		}
		s.i++
		for {
			s.space()
			if s.eat(closer) {
				return true
			}
			if closer == '}' {
				if _, ok := s.str(); !ok {
					return false
				}
				s.space()
				if !s.eat(':') {
					return false
				}
				s.space()
			}
			if !s.value(depth + 1) {
				return false
			}
			s.space()
			if !s.eat(',') && !(s.i < len(s.s) && s.s[s.i] == closer) {
				return false
			}
		}
	}
	start := s.i
	for s.i < len(s.s) && indexByte(",}] \t\r\n", s.s[s.i]) < 0 {
		s.i++
	}
	return s.i > start
}

// parseNumber reads a JSON number (-?int(.frac)?([eE][+-]?digits)?) as a
// float64: exact for integers up to 2^53, such as the Unix times of "exp";
// other values may be off in the last bits, which an expiry does not feel.
func parseNumber(t string) (float64, bool) {
	i, neg := 0, false
	if i < len(t) && t[i] == '-' {
		neg = true
		i++
	}
	var mant float64
	exp, digits := 0, 0
	for ; i < len(t) && '0' <= t[i] && t[i] <= '9'; i++ {
		mant = mant*10 + float64(t[i]-'0')
		digits++
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(t) && t[i] == '.' {
		i++
		frac := 0
		for ; i < len(t) && '0' <= t[i] && t[i] <= '9'; i++ {
			mant = mant*10 + float64(t[i]-'0')
			frac++
		}
		if frac == 0 {
			return 0, false
		}
		exp -= frac
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		eneg := false
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			eneg = t[i] == '-'
			i++
		}
		e, n := 0, 0
		for ; i < len(t) && '0' <= t[i] && t[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(t[i]-'0')
			}
			n++
		}
		if n == 0 {
			return 0, false
		}
		if eneg {
			e = -e
		}
		exp += e
	}
	if i != len(t) {
		return 0, false
	}
	v := mant
	if exp > 0 {
		v *= math.Pow10(exp)
	} else if exp < 0 {
		v /= math.Pow10(-exp)
	}
	if neg {
		v = -v
	}
	return v, true
}

// decodeBase64URL decodes unpadded base64url (RFC 4648 §5), as a JWT's
// parts are written, without encoding/base64 (its init builds four
// encodings into the browser build).
func decodeBase64URL(s string) ([]byte, bool) {
	if len(s)%4 == 1 {
		return nil, false
	}
	out := make([]byte, 0, len(s)*3/4)
	var acc uint32
	bits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		var v byte
		switch {
		case 'A' <= c && c <= 'Z':
			v = c - 'A'
		case 'a' <= c && c <= 'z':
			v = c - 'a' + 26
		case '0' <= c && c <= '9':
			v = c - '0' + 52
		case c == '-':
			v = 62
		case c == '_':
			v = 63
		default:
			return nil, false
		}
		acc = acc<<6 | uint32(v)
		bits += 6
		if bits >= 8 {
			bits -= 8
			out = append(out, byte(acc>>bits))
		}
	}
	return out, true
}
