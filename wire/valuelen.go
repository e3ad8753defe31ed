package wire

import (
	"errors"
	"io"

	"github.com/pushmap/pushmap/wire/internal/mpack"
)

// ErrTooDeep is wrapped by the error of ValueLen for arrays and maps nested
// deeper than it allows.
var ErrTooDeep = errors.New("wire: arrays and maps nested too deep")

// ValueLen returns the length in bytes of the MessagePack value that b
// starts with, without decoding it, for the decoders of other MessagePack
// documents (the server's MessagePack feeds) that must refuse what this
// package's decoders refuse. Arrays and maps may nest at most maxDepth
// deep: a scalar is at depth 0, [x] at 1, [[x]] at 2. A deeper value is an
// error wrapping ErrTooDeep, a value cut short one wrapping
// io.ErrUnexpectedEOF. It walks the value with a loop, not recursion, so no
// input can exhaust the stack; the work is linear in the length of b.
func ValueLen(b []byte, maxDepth int) (int, error) {
	n, err := mpack.SkipLen(b, maxDepth)
	var de *mpack.DepthError
	switch {
	case err == nil:
		return n, nil
	case errors.As(err, &de):
		return 0, errors.Join(ErrTooDeep, err)
	case errors.Is(err, mpack.ErrShort):
		return 0, errors.Join(io.ErrUnexpectedEOF, err)
	}
	return 0, err
}
