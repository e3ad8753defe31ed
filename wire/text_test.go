package wire

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestQuoteIsQuoteToASCII checks the hand-written quote of error texts
// against strconv.QuoteToASCII (%+q): every kind of byte and rune, and
// random strings of them.
func TestQuoteIsQuoteToASCII(t *testing.T) {
	cases := []string{"", "plain", `a"b\c`, "\a\b\f\n\r\t\v\x00\x1b\x7f", "café",
		"\u200b\u202e", "\U0001F600", "\xff\xfe", "\xe2\x82", "\ufffd", "\U0010ffff", "é\xc3"}
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"a", " ", "\"", "\\", "\n", "\x01", "\x7f", "\x80", "\xff", "é", "€", "\U0001F600", "\u0378", "\xf0\x9f"}
	for range 2000 {
		var s string
		for range rng.IntN(8) {
			s += pieces[rng.IntN(len(pieces))]
		}
		cases = append(cases, s)
	}
	for _, s := range cases {
		if got, want := quote(s), strconv.QuoteToASCII(s); got != want {
			t.Errorf("quote(%q) = %s, want %s", s, got, want)
		}
	}
	if got, want := quoteN("héllo wörld", 4), strconv.QuoteToASCII("héll"); got != want {
		t.Errorf("quoteN = %s, want %s", got, want)
	}
}

// TestNames checks the names of types and codes, now read from arrays:
// every one named, and numbers past or between them as numbers.
func TestNames(t *testing.T) {
	for typ, want := range map[Type]string{TypeHello: "hello", TypeRefresh: "refresh",
		TypeWelcome: "welcome", TypeMore: "more", 0: "type(0)", 6: "type(6)", 24: "type(24)", 255: "type(255)"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", typ, got, want)
		}
	}
	for code, want := range map[Code]string{CodeMalformed: "malformed", CodeUnauthorized: "unauthorized",
		0: "code(0)", 13: "code(13)", 65535: "code(65535)"} {
		if got := code.String(); got != want {
			t.Errorf("Code(%d).String() = %q, want %q", code, got, want)
		}
	}
	for typ := TypeHello; typ <= TypeMore; typ++ {
		if typ > TypeRefresh && typ < TypeWelcome {
			continue
		}
		if s := typ.String(); len(s) > 5 && s[:5] == "type(" {
			t.Errorf("Type(%d) has no name: %q", typ, s)
		}
	}
	for code := CodeMalformed; code <= CodeUnauthorized; code++ {
		if s := code.String(); len(s) > 5 && s[:5] == "code(" {
			t.Errorf("Code(%d) has no name: %q", code, s)
		}
	}
}
