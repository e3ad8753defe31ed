package wire_test

import (
	"fmt"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// A client's view change, as it travels.
func ExampleMarshal() {
	b, err := wire.Marshal(wire.Unview{ID: 1})
	fmt.Printf("% x %v\n", b, err)
	// Output:
	// 92 03 01 <nil>
}

// Decoding a batch from the server: a marker move and a remove.
func ExampleDecoder_Decode() {
	frame, _ := wire.Marshal(wire.Batch{Ops: []wire.Op{
		{Marker: wire.Marker{ID: "v1", Layer: "cars", Pos: geo.Pt(2.3522219, 48.856614), Version: 8}},
		{Remove: true, Marker: wire.Marker{ID: "v2"}},
	}})
	msg, err := wire.NewDecoder().Decode(frame)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, op := range msg.(wire.Batch).Ops {
		if op.Remove {
			fmt.Println("remove", op.Marker.ID)
		} else {
			fmt.Println("upsert", op.Marker.ID, op.Marker.Pos, op.Marker.Version)
		}
	}
	fmt.Println(len(frame), "bytes")
	// Output:
	// upsert v1 (2.3522219, 48.856614) 8
	// remove v2
	// 25 bytes
}

// Bad input gets an Error with a code and a message naming the value.
func ExampleView_Validate() {
	err := wire.View{Box: geo.BBox(0, 10, 1, 5)}.Validate()
	fmt.Println(err)
	// Output:
	// pushmap: invalid_box: view box [0, 10, 1, 5]: geo: invalid: south 10 is above north 5
}
