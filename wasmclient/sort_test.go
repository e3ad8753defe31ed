package wasmclient

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/pushmap/pushmap/wire"
)

// TestSortClusters checks the hand-written heapsort of Clusters against
// slices.SortFunc, on every length up to 70 and on duplicates.
func TestSortClusters(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 70 {
		cs := make([]wire.Cluster, n)
		for i := range cs {
			cs[i] = wire.Cluster{View: rng.IntN(4), ID: rng.Uint64N(uint64(n) + 1), Count: uint64(i)}
		}
		want := slices.Clone(cs)
		slices.SortStableFunc(want, func(a, b wire.Cluster) int {
			return cmp.Or(cmp.Compare(a.View, b.View), cmp.Compare(a.ID, b.ID))
		})
		sortClusters(cs)
		for i := range cs {
			if cs[i].View != want[i].View || cs[i].ID != want[i].ID {
				t.Fatalf("%d clusters: at %d got view %d id %d, want view %d id %d",
					n, i, cs[i].View, cs[i].ID, want[i].View, want[i].ID)
			}
		}
	}
}
