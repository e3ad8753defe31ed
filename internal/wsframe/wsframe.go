// Package wsframe holds the pieces of RFC 6455 that the WebSocket ends
// written by hand share: the server's messages (server.sockWriter frames
// them itself), the load benchmark's floor server (baseline.Floor) and
// client (loadgen), and the server's tests that speak WebSocket by hand.
// Each end reads a frame's payload its own way (into its own buffer,
// unmasked or not, with its own limit); the header is read by one
// function.
package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
)

// guid is the key suffix of RFC 6455's opening handshake (section 1.3).
const guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// AcceptKey returns the Sec-WebSocket-Accept a server answers to the
// client's Sec-WebSocket-Key key.
func AcceptKey(key string) string {
	sum := sha1.Sum([]byte(key + guid))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// AppendHeader appends the header of one frame whose first byte is b0
// (FIN, RSV and opcode) and whose payload is size bytes, without the
// masking key: masked sets the mask bit, and the caller appends the key
// and masks the payload (RFC 6455 section 5.2).
func AppendHeader(dst []byte, b0 byte, size int, masked bool) []byte {
	var m byte
	if masked {
		m = 0x80
	}
	dst = append(dst, b0)
	switch {
	case size < 126:
		return append(dst, m|byte(size))
	case size <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|126), uint16(size))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|127), uint64(size))
}

// A Header is a frame's header as ReadHeader read it.
type Header struct {
	B0     byte // FIN, RSV and opcode
	Size   uint64
	Masked bool
	Mask   [4]byte // the masking key, when Masked
}

// Fin reports whether the frame is the last of its message.
func (h *Header) Fin() bool { return h.B0&0x80 != 0 }

// Opcode returns the frame's opcode.
func (h *Header) Opcode() byte { return h.B0 & 0x0f }

// ReadHeader reads the header of the next frame from r, byte by byte (r is
// buffered), leaving r at the payload (RFC 6455 section 5.2). A header cut
// short is io.ErrUnexpectedEOF; nothing read at all, io.EOF.
func ReadHeader(r io.ByteReader) (Header, error) {
	var h Header
	b0, err := r.ReadByte()
	if err != nil {
		return h, err
	}
	b1, err := r.ReadByte()
	if err != nil {
		return h, unexpected(err)
	}
	h.B0, h.Masked, h.Size = b0, b1&0x80 != 0, uint64(b1&0x7f)
	ext := 0
	switch h.Size {
	case 126:
		ext = 2
	case 127:
		ext = 8
	}
	if ext > 0 {
		h.Size = 0
		for range ext {
			b, err := r.ReadByte()
			if err != nil {
				return h, unexpected(err)
			}
			h.Size = h.Size<<8 | uint64(b)
		}
	}
	if h.Masked {
		for i := range h.Mask {
			if h.Mask[i], err = r.ReadByte(); err != nil {
				return h, unexpected(err)
			}
		}
	}
	return h, nil
}

// unexpected is err for a read that stopped inside a header.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
