package store

// A LayerSet is a set of layers, for reading the markers of some layers
// only; nil means every layer.
type LayerSet map[string]struct{}

// NewLayerSet returns the set of layers; nil (every layer) when layers is
// empty.
func NewLayerSet(layers []string) LayerSet {
	if len(layers) == 0 {
		return nil
	}
	set := make(LayerSet, len(layers))
	for _, l := range layers {
		set[l] = struct{}{}
	}
	return set
}

// Has reports whether layer is in the set.
func (ls LayerSet) Has(layer string) bool {
	if ls == nil {
		return true
	}
	_, ok := ls[layer]
	return ok
}
