package server

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/pushmap/pushmap/geo"
)

// Watched is a tile that clients are looking at, and how many.
type Watched struct {
	Tile    geo.Tile
	Viewers int // connections with a view that intersects the tile
}

// MaxInterestTiles caps the answer of Interest: more watched tiles at the
// zoom asked is an error wrapping ErrTooManyTiles (ask at a lower zoom).
// 262,144 tiles are about 10 MB of JSON.
const MaxInterestTiles = 1 << 18

// MaxInterestWork caps the tiles Interest enumerates, over every view of
// every connection counted (a tile watched by n connections counts n
// times); more is an error wrapping ErrTooManyTiles. It bounds the CPU of
// one question, about half a second on a 2020 laptop core.
const MaxInterestWork = 1 << 22

// ErrTooManyTiles is wrapped by the error of Interest when the answer, or
// the work to find it, is over MaxInterestTiles or MaxInterestWork.
var ErrTooManyTiles = errors.New("server: too many watched tiles")

// Interest tells a feed which parts of the world are watched: the tiles at
// zoom z that intersect a view of a connection seeing layer ("" for any),
// with how many connections watch each, sorted by row, then column. A feed
// can skip work on tiles nobody watches. It returns an error for a zoom
// outside [0, 24], and one wrapping ErrTooManyTiles past MaxInterestTiles
// or MaxInterestWork.
func (s *Server) Interest(z int, layer string) ([]Watched, error) {
	var layers []string
	if layer != "" {
		layers = []string{layer}
	}
	return s.InterestIn(z, layers)
}

// InterestIn is Interest for the connections seeing any of layers (nil: any
// connection; empty: none). The server lock is held only to copy the
// views' boxes: the tiles are found after, so that a costly question never
// holds up a feed.
func (s *Server) InterestIn(z int, layers []string) ([]Watched, error) {
	if z < 0 || z > geo.MaxZoom {
		return nil, fmt.Errorf("server: interest zoom %d is outside [0, %d]", z, geo.MaxZoom)
	}
	if layers != nil && len(layers) == 0 {
		return []Watched{}, nil
	}
	// boxes[starts[i]:starts[i+1]] are the view boxes of the i-th
	// connection counted.
	var boxes []geo.Box
	var starts []int
	s.mu.Lock()
	for c := range s.conns {
		if len(c.views) == 0 || !seesAny(c.layers, layers) {
			continue
		}
		starts = append(starts, len(boxes))
		for i := range c.views {
			vw := &c.views[i]
			if !c.restricted {
				boxes = append(boxes, vw.v.Box)
				continue
			}
			// A client restricted to a box watches only what it may see.
			for _, p := range vw.parts[:vw.n] {
				boxes = append(boxes, p.box)
			}
		}
	}
	s.mu.Unlock()
	starts = append(starts, len(boxes))
	if hook := s.interestCopied; hook != nil {
		hook()
	}

	var work uint64
	for _, b := range boxes {
		n := geo.CountTilesCovering(b, z)
		if n > MaxInterestTiles {
			return nil, fmt.Errorf("%w: a view covers %d tiles at zoom %d, at most %d are answered; ask at a lower zoom", ErrTooManyTiles, n, z, MaxInterestTiles)
		}
		work += n
	}
	if work > MaxInterestWork {
		return nil, fmt.Errorf("%w: the views cover %d tiles at zoom %d together, at most %d are counted; ask at a lower zoom", ErrTooManyTiles, work, z, MaxInterestWork)
	}
	counts := map[geo.Tile]int{}
	seen := map[geo.Tile]struct{}{}
	var tiles []geo.Tile
	for i := range len(starts) - 1 {
		own := boxes[starts[i]:starts[i+1]]
		clear(seen)
		for _, b := range own {
			tiles = geo.AppendTilesCovering(tiles[:0], b, z)
			for _, t := range tiles {
				if len(own) > 1 { // a connection counts once per tile, whatever its views
					if _, dup := seen[t]; dup {
						continue
					}
					seen[t] = struct{}{}
				}
				counts[t]++
			}
		}
		if len(counts) > MaxInterestTiles {
			return nil, fmt.Errorf("%w: more than %d tiles watched at zoom %d; ask at a lower zoom", ErrTooManyTiles, MaxInterestTiles, z)
		}
	}
	out := make([]Watched, 0, len(counts))
	for t, n := range counts {
		out = append(out, Watched{Tile: t, Viewers: n})
	}
	slices.SortFunc(out, func(a, b Watched) int {
		if c := cmp.Compare(a.Tile.Y, b.Tile.Y); c != 0 {
			return c
		}
		return cmp.Compare(a.Tile.X, b.Tile.X)
	})
	return out, nil
}

// seesAny reports whether a connection seeing have (nil: every layer) sees
// one of want (nil: any).
func seesAny(have layerSet, want []string) bool {
	if want == nil || have == nil {
		return true
	}
	for _, l := range want {
		if have.Has(l) {
			return true
		}
	}
	return false
}
