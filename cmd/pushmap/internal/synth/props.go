package synth

// Marker kinds, the "kind" property.
const (
	kindPlane uint8 = iota
	kindCar
	kindBus
	kindTaxi
)

var kindNames = [...]string{kindPlane: "plane", kindCar: "car", kindBus: "bus", kindTaxi: "taxi"}

// noCity stands for "no city" in a propKey of a vehicle.
const noCity = 0xff

// A propKey names one distinct Props map: vehicles use only kind and
// heading, flights also their route.
type propKey struct {
	kind     uint8
	from, to uint8 // indexes into cities, or noCity
	heading  uint16
}

// A propCache holds one immutable Props map per distinct propKey, so markers
// that look alike share a map and Step allocates nothing once the headings in
// use have been seen. Maps handed out are never modified.
type propCache map[propKey]map[string]any

// get returns the shared Props map for k, building it on first use.
func (c propCache) get(k propKey) map[string]any {
	if m, ok := c[k]; ok {
		return m
	}
	m := map[string]any{"kind": kindNames[k.kind], "heading": headingAny[k.heading]}
	if k.from != noCity {
		m["from"] = cityCodeAny[k.from]
		m["to"] = cityCodeAny[k.to]
	}
	c[k] = m
	return m
}

// headingAny and cityCodeAny hold the property values boxed once, so that the
// many Props maps share them.
var (
	headingAny  [360]any
	cityCodeAny [len(cities)]any
)

func init() {
	for h := range headingAny {
		headingAny[h] = h
	}
	for i, c := range cities {
		cityCodeAny[i] = c.code
	}
}

// headingInt rounds a heading in degrees to an int in [0, 360).
func headingInt(deg float64) uint16 {
	h := int(deg+0.5+720) % 360 // deg is in [-180, 360]
	return uint16(h)
}
