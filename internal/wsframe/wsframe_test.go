package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
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

// TestReadHeader reads back what AppendHeader wrote, in the three length
// forms, masked and not, and a header cut short at each byte.
func TestReadHeader(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, size := range []int{0, 125, 126, 0xffff, 0x10000} {
		for _, masked := range []bool{false, true} {
			b := AppendHeader(nil, 0x81, size, masked)
			if masked {
				b = append(b, mask[:]...)
			}
			h, err := ReadHeader(bufio.NewReader(bytes.NewReader(b)))
			if err != nil {
				t.Fatalf("size %d, masked %v: %v", size, masked, err)
			}
			if !h.Fin() || h.Opcode() != 1 || h.Size != uint64(size) || h.Masked != masked || masked && h.Mask != mask {
				t.Errorf("size %d, masked %v: read %+v", size, masked, h)
			}
			for cut := 1; cut < len(b); cut++ {
				if _, err := ReadHeader(bufio.NewReader(bytes.NewReader(b[:cut]))); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("size %d, masked %v, cut at %d: %v, want io.ErrUnexpectedEOF", size, masked, cut, err)
				}
			}
		}
	}
	if _, err := ReadHeader(bufio.NewReader(bytes.NewReader(nil))); err != io.EOF {
		t.Errorf("no header: %v, want io.EOF", err)
	}
}
