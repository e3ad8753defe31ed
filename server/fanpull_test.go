package server

import (
	"fmt"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/wire"
)

// TestPullSettledBeforeNextOps: a batch given to a connection whose writer
// has not pulled it yet (held here, as a writer busy with an earlier
// frame) is pulled into the outbox before anything that comes after it:
// the next batch's ops (a removal of one of its markers, pushed), a view
// change. The writer then writes the marker's removal last, not the
// batch's upsert of it pulled late; and the view change's ack after the
// batch's ops.
func TestPullSettledBeforeNextOps(t *testing.T) {
	s, conns := benchServer(t, []geo.Box{geo.BBox(0, 0, 10, 10), geo.BBox(5, 5, 15, 15)})
	conns[1].frameLimit = 1 << 20 // the ack in one frame
	batch := make([]Update, 100)
	for i := range batch {
		batch[i].Marker = wire.Marker{ID: fmt.Sprint("m", i), Pos: geo.Pt(1+float64(i)/20, 6)}
	}
	if err := s.Apply(batch); err != nil {
		t.Fatal(err)
	}
	// Given out on a goroutine of its own (on more than one core), which
	// then unlocks Server.mu.
	if n, given := s.PulledBatches(), conns[0].pull.batch.Load() != nil; n != 1 || !given {
		t.Fatalf("%d batches pulled, the first connection has a batch to pull: %v; want one, given", n, given)
	}
	if err := s.Remove("m0"); err != nil { // pushed: one update
		t.Fatal(err)
	}
	if err := s.setView(conns[1], wire.View{ID: 0, Box: geo.BBox(-1, 5, 4, 7), Zoom: 9}); err != nil {
		t.Fatal(err)
	}
	for k, c := range conns {
		var kinds []string
		final := map[string]bool{} // marker id: held after the frames
		err := c.out.Drain(func(f []byte) error {
			msg, err := wire.Unmarshal(f)
			if err != nil {
				return err
			}
			switch m := msg.(type) {
			case wire.Batch:
				kinds = append(kinds, "batch")
				for _, op := range m.Ops {
					final[op.Marker.ID] = !op.Remove
				}
			case wire.ViewAck:
				kinds = append(kinds, "ack")
			default:
				kinds = append(kinds, fmt.Sprintf("%T", msg))
			}
			return nil
		}, maxBatchBytes, nil)
		if err != nil {
			t.Fatal(err)
		}
		if held, ok := final["m0"]; k == 0 && (!ok || held) {
			t.Errorf("connection 0: m0 held %v after its frames (seen %v); want its removal last", held, ok)
		}
		if want := map[int]int{0: 100, 1: 20}[k]; len(final) != want {
			t.Errorf("connection %d: %d markers in its frames, want %d", k, len(final), want)
		}
		if k == 1 && fmt.Sprint(kinds) != "[batch ack]" {
			t.Errorf("connection 1 was written %v, want the batch's ops, then the view's ack", kinds)
		}
	}
}
