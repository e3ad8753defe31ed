package geo

import (
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"
)

// newRand returns the random source of a property test: seeded from the
// GEO_SEED environment variable when it is set, from the clock otherwise.
// It always logs the seed and the command that replays the run, so a failure
// can be reproduced. Call it from top-level tests only (the command names
// t.Name()).
func newRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GEO_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("GEO_SEED=%q is not an unsigned integer: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d; replay with: GEO_SEED=%d go test ./geo -run '^%s$'", seed, seed, t.Name())
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}
