package wsframe

import (
	"bytes"
	"testing"
)

// TestAcceptKey checks the example of RFC 6455 section 1.3.
func TestAcceptKey(t *testing.T) {
	if got, want := AcceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; got != want {
		t.Errorf("AcceptKey = %q, want %q", got, want)
	}
}

// TestAppendHeader checks the three payload length forms, masked and not.
func TestAppendHeader(t *testing.T) {
	for _, tc := range []struct {
		size   int
		masked bool
		want   []byte
	}{
		{125, false, []byte{0x82, 125}},
		{125, true, []byte{0x82, 0x80 | 125}},
		{126, false, []byte{0x82, 126, 0, 126}},
		{0xffff, true, []byte{0x82, 0x80 | 126, 0xff, 0xff}},
		{0x10000, false, []byte{0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		if got := AppendHeader(nil, 0x82, tc.size, tc.masked); !bytes.Equal(got, tc.want) {
			t.Errorf("AppendHeader(size %d, masked %v) = % x, want % x", tc.size, tc.masked, got, tc.want)
		}
	}
}
