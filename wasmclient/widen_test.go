package wasmclient

import (
	"encoding/base64"
	"math"
	"strconv"
	"testing"

	"github.com/pushmap/pushmap/geo"
)

func TestWiden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		box    geo.Box
		margin float64
		want   geo.Box
	}{
		{"no margin", geo.BBox(0, 0, 10, 10), 0, geo.BBox(0, 0, 10, 10)},
		{"quarter", geo.BBox(0, 0, 10, 10), 0.25, geo.BBox(-2.5, -2.5, 12.5, 12.5)},
		{"into the antimeridian", geo.BBox(170, 0, 178, 8), 0.5, geo.BBox(166, -4, -178, 12)},
		{"already across", geo.BBox(175, 0, -175, 10), 0.1, geo.BBox(174, -1, -174, 11)},
		{"whole world", geo.BBox(-170, -10, 170, 10), 0.1, geo.BBox(-180, -12, 180, 12)},
		{"poles clamp", geo.BBox(0, 80, 10, 89), 0.5, geo.BBox(-5, 75.5, 15, 90)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := widen(tc.box, tc.margin)
			if d := abs(got.West-tc.want.West) + abs(got.South-tc.want.South) + abs(got.East-tc.want.East) + abs(got.North-tc.want.North); d > 1e-9 {
				t.Fatalf("widen(%v, %v) = %v, want %v", tc.box, tc.margin, got, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// TestBackoff: wait n is the doubled MinBackoff (at most MaxBackoff)
// randomised by ±50%, and the first retry spreads over 250–750 ms by
// default.
func TestBackoff(t *testing.T) {
	c := newClient("ws://x", nil)
	defer c.cancel()
	for n := range 30 {
		d := c.backoff(n)
		mid := c.opts.MinBackoff << min(n, 20)
		if mid > c.opts.MaxBackoff || mid <= 0 {
			mid = c.opts.MaxBackoff
		}
		if d < mid/2 || d > mid*3/2 {
			t.Fatalf("backoff(%d) = %v, want in [%v, %v]", n, d, mid/2, mid*3/2)
		}
	}
	lo, hi := 3600*second, dur(0) // the clock's types: the browser build's too
	for range 1000 {
		d := c.backoff(0)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 250*millisecond || hi > 750*millisecond || hi-lo < 400*millisecond {
		t.Fatalf("first retries spread over [%v, %v], want over most of [250ms, 750ms]", lo, hi)
	}
}

func TestJWTExpiry(t *testing.T) {
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		payload string
		want    int64 // 0: none
	}{
		{`{"exp":1764100000}`, 1764100000},
		{` { "sub" : "a\"exp\":1" , "nested": {"exp": 5, "list": [1, {"exp": 6}, "]"]}, "exp" : 1764100001 } `, 1764100001},
		{`{"sub":"x"}`, 0},
		{`{"exp":"soon"}`, 0},
		{`{"exp":-5}`, 0},
		{`[{"exp":7}]`, 0},
		{`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],"exp":9}`, 0}, // too deep: not read
		{`{"exp":1.5e9}`, 1.5e9},
	} {
		got, ok := jwtExpiry(enc(`{"alg":"none"}`) + "." + enc(tc.payload) + ".sig")
		if ok != (tc.want != 0) || (ok && int64(got) != tc.want) {
			t.Errorf("jwtExpiry of %s = %v, %v; want %d", tc.payload, got, ok, tc.want)
		}
	}
	if _, ok := jwtExpiry("not-a-jwt"); ok {
		t.Error("a static token has an expiry")
	}
	payload := enc(`{"exp":1764100000}`)
	for _, tok := range []string{"h." + payload, "h." + payload + ".sig.more", "." + payload + "..", payload} {
		if got, ok := jwtExpiry(tok); ok {
			t.Errorf("jwtExpiry(%q) = %v: not three parts, want none", tok, got)
		}
	}
	padded := base64.URLEncoding.EncodeToString([]byte(`{"exp":17641000}`)) // 16 bytes: "==" at the end
	if got, ok := jwtExpiry("h." + padded + ".sig"); !ok || got != 17641000 {
		t.Errorf("jwtExpiry of a padded payload %q = %v, %v; want 17641000", padded, got, ok)
	}
}

// TestParseNumber: the JWT's exp is read without strconv.ParseFloat (whose
// tables the browser build leaves out): JSON numbers as strconv reads them,
// exactly for integers, and anything else refused.
func TestParseNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "1764100000", "9007199254740992", "1.5", "-2.25", "1.5e9",
		"1E3", "2e-3", "1.764100000123e9", "123456789012345678901234567890", "1e400"} {
		got, ok := parseNumber(s)
		want, err := strconv.ParseFloat(s, 64)
		if err != nil && !math.IsInf(want, 0) {
			t.Fatalf("strconv refuses %q: %v", s, err)
		}
		if !ok || math.Abs(got-want) > math.Abs(want)*1e-15 && !(math.IsInf(got, 1) && math.IsInf(want, 1)) {
			t.Errorf("parseNumber(%q) = %v, %v; want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "-", "+1", "1.", ".5", "1e", "1e+", "1.2.3", "1-2", "--1", "e5", "0x10", "1_000"} {
		if v, ok := parseNumber(s); ok {
			t.Errorf("parseNumber(%q) = %v, want refused", s, v)
		}
	}
}

// TestDecodeBase64URL: the JWT's payload is decoded without
// encoding/base64 (left out of the browser build), as RawURLEncoding does.
func TestDecodeBase64URL(t *testing.T) {
	b := make([]byte, 64)
	for i := range b {
		b[i] = byte(i*37 + 11)
	}
	for n := range len(b) {
		enc := base64.RawURLEncoding.EncodeToString(b[:n])
		got, ok := decodeBase64URL(enc)
		if !ok || string(got) != string(b[:n]) {
			t.Fatalf("decodeBase64URL(%q) = %x, %v; want %x", enc, got, ok, b[:n])
		}
	}
	for _, s := range []string{"a", "ab+c", "ab/c", "ab c", "abcde"} {
		if _, ok := decodeBase64URL(s); ok {
			t.Errorf("decodeBase64URL(%q) accepted", s)
		}
	}
}
