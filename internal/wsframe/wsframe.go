// Package wsframe holds the two pieces of RFC 6455 that the WebSocket ends
// written by hand share: the server's messages (server.sockWriter frames
// them itself), and the load benchmark's floor server (baseline.Floor) and
// client (loadgen). Each end keeps its own reader; they read different
// frames (masked from clients, unmasked from servers).
package wsframe

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
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
