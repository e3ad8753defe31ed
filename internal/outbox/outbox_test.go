package outbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// drainAll drains o with a writer that records the frames, decoded.
func drainAll(t *testing.T, o *Outbox) []wire.Message {
	t.Helper()
	var got []wire.Message
	err := o.Drain(func(f []byte) error {
		m, err := wire.Unmarshal(f)
		if err != nil {
			t.Fatalf("frame %x: %v", f, err)
		}
		got = append(got, m)
		return nil
	}, 64<<10, func() error { return errors.New("unexpected: behind") })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func upsert(t *testing.T, enc *wire.Encoder, id string, version uint64) []byte {
	t.Helper()
	op, err := enc.Upsert(&wire.Marker{ID: id, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(op)
}

func control(t *testing.T, m wire.Message) []byte {
	t.Helper()
	f, err := wire.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// batchIDs returns the marker ids and versions of a batch, sorted.
func batchIDs(t *testing.T, m wire.Message) []string {
	t.Helper()
	b, ok := m.(wire.Batch)
	if !ok {
		t.Fatalf("got %T, want a batch", m)
	}
	var ids []string
	for _, op := range b.Ops {
		ids = append(ids, op.Marker.ID+"@"+string(rune('0'+op.Marker.Version)))
	}
	slices.Sort(ids)
	return ids
}

// TestOrderAndCoalescing: ops put before a control frame leave before it,
// and a marker put twice leaves once, in its latest state.
func TestOrderAndCoalescing(t *testing.T) {
	enc := wire.NewEncoder()
	var o Outbox
	o.Limit = 1 << 20
	if !o.Put(KeyOf("a"), upsert(t, enc, "a", 1)) {
		t.Fatal("the first put did not ask for a writer")
	}
	if o.Put(KeyOf("b"), upsert(t, enc, "b", 1)) || o.Put(KeyOf("a"), upsert(t, enc, "a", 2)) {
		t.Fatal("a second writer was asked for while one runs")
	}
	if o.Control(control(t, wire.UnviewAck{ID: 3})) {
		t.Fatal("a second writer was asked for while one runs")
	}
	o.Put(KeyOf("c"), upsert(t, enc, "c", 1))
	got := drainAll(t, &o)
	if len(got) != 3 {
		t.Fatalf("got %d frames, want batch, ack, batch: %v", len(got), got)
	}
	if ids := batchIDs(t, got[0]); !slices.Equal(ids, []string{"a@2", "b@1"}) {
		t.Errorf("first batch %v, want a@2 b@1", ids)
	}
	if ack, ok := got[1].(wire.UnviewAck); !ok || ack.ID != 3 {
		t.Errorf("second frame %#v, want the ack", got[1])
	}
	if ids := batchIDs(t, got[2]); !slices.Equal(ids, []string{"c@1"}) {
		t.Errorf("last batch %v, want c@1", ids)
	}
	if !o.Put(KeyOf("d"), upsert(t, enc, "d", 1)) {
		t.Fatal("after Drain returned, a put did not ask for a new writer")
	}
}

// TestBehind: past its limit an outbox drops its ops and asks the writer
// for a Replace, which is written alone; after Close nothing is taken.
func TestBehind(t *testing.T) {
	enc := wire.NewEncoder()
	var o Outbox
	op := upsert(t, enc, "m0", 1)
	o.Limit = 10 * len(op)
	for i := range 100 {
		o.Put(KeyOf("m"+string(rune('0'+i%64))), op)
	}
	if o.Bytes() != 0 {
		t.Fatalf("%d bytes wait in an outbox that fell behind", o.Bytes())
	}
	if o.Put(KeyOf("x"), op) || o.Control(control(t, wire.UnviewAck{})) {
		t.Fatal("an outbox that fell behind took an op or a control frame")
	}
	reset := control(t, wire.Reset{Flags: wire.FlagBehind})
	var got []wire.Message
	behind := 0
	err := o.Drain(func(f []byte) error {
		m, _ := wire.Unmarshal(f)
		got = append(got, m)
		return nil
	}, 1<<10, func() error {
		behind++
		o.Replace(reset)
		return nil
	})
	if err != nil || behind != 1 || len(got) != 1 {
		t.Fatalf("drain: err %v, behind %d times, frames %v", err, behind, got)
	}
	if r, ok := got[0].(wire.Reset); !ok || r.Flags != wire.FlagBehind {
		t.Fatalf("got %#v, want the reset", got[0])
	}
	o.Close()
	if o.Put(KeyOf("y"), op) || o.Control(reset) || o.Replace(reset) || o.Bytes() != 0 {
		t.Fatal("a closed outbox took something")
	}
}

// TestBehindKeepsReplies: replies (Reply frames), queued before or while
// the outbox is behind, are all written, in order, before the Replace
// frame; the batches are dropped. So every request keeps its one reply.
func TestBehindKeepsReplies(t *testing.T) {
	enc := wire.NewEncoder()
	var o Outbox
	op := upsert(t, enc, "m0", 1)
	o.Limit = 10*len(op) + 16
	o.Put(KeyOf("a"), op)
	o.Reply(control(t, wire.UnviewAck{ID: 1})) // after a batch of a
	for i := range 100 {                       // falls behind
		o.Put(KeyOf("m"+string(rune('0'+i%64))), op)
	}
	o.Reply(control(t, wire.UnviewAck{ID: 2})) // while behind
	reset := control(t, wire.Reset{Flags: wire.FlagBehind})
	var got []wire.Message
	err := o.Drain(func(f []byte) error {
		m, _ := wire.Unmarshal(f)
		got = append(got, m)
		return nil
	}, 1<<10, func() error {
		o.Reply(control(t, wire.UnviewAck{ID: 3})) // between the fall and the Replace
		o.Replace(reset)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []wire.Message{wire.UnviewAck{ID: 1}, wire.UnviewAck{ID: 2}, wire.UnviewAck{ID: 3}, wire.Reset{Flags: wire.FlagBehind}}
	if len(got) != len(want) {
		t.Fatalf("wrote %#v, want %#v", got, want)
	}
	for i := range want {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			t.Errorf("frame %d: %#v, want %#v", i, got[i], want[i])
		}
	}
}

// TestRepliesOverLimit: replies alone past the limit end Drain with
// ErrRepliesOverLimit (the client asks and does not read); nothing is
// dropped silently.
func TestRepliesOverLimit(t *testing.T) {
	var o Outbox
	ack := control(t, wire.UnviewAck{ID: 1})
	o.Limit = 5 * len(ack)
	for range 7 { // the largest reply aside, 6 fill more than the limit
		o.Reply(ack)
	}
	behind := 0
	err := o.Drain(func([]byte) error { t.Error("a frame was written"); return nil }, 1<<10, func() error {
		behind++
		return nil
	})
	if !errors.Is(err, ErrRepliesOverLimit) || behind != 0 {
		t.Fatalf("Drain: %v after %d behind calls, want ErrRepliesOverLimit and none", err, behind)
	}
}

// TestOneLargeReply: one reply larger than the limit (the snapshot of a
// large view, split in frames) is kept and written whole when the outbox
// falls behind; a second one waiting means the client does not read.
func TestOneLargeReply(t *testing.T) {
	enc := wire.NewEncoder()
	frame := control(t, wire.UnviewAck{ID: 1})
	var o Outbox
	o.Limit = 4 * len(frame)
	big := [][]byte{frame, frame, frame, frame, frame, frame} // one reply, 1.5 × Limit
	o.Reply(big...)
	for i := range 10 {
		o.Put(KeyOf(fmt.Sprint(i)), upsert(t, enc, fmt.Sprint(i), 1))
	}
	if !o.Behind() {
		t.Fatal("the outbox did not fall behind")
	}
	written, behind := 0, 0
	err := o.Drain(func([]byte) error { written++; return nil }, 1<<10, func() error {
		behind++
		o.Replace(frame) // a reset, in pushmap
		return nil
	})
	if err != nil || written != len(big)+1 || behind != 1 {
		t.Fatalf("Drain: %v, %d frames written, %d behind calls; want the %d frames of the reply, the replacement and one behind call", err, written, behind, len(big))
	}

	var o2 Outbox
	o2.Limit = o.Limit
	o2.Reply(big...)
	o2.Reply(big...)
	err = o2.Drain(func([]byte) error { return nil }, 1<<10, func() error { return nil })
	if !errors.Is(err, ErrRepliesOverLimit) {
		t.Fatalf("two large replies waiting: Drain %v, want ErrRepliesOverLimit", err)
	}
}

// TestBatchSize: many ops leave in several frames of about maxBatch bytes.
func TestBatchSize(t *testing.T) {
	enc := wire.NewEncoder()
	var o Outbox
	o.Limit = 1 << 20
	for i := range 500 {
		id := strings.Repeat("x", 20) + string(rune(0x100+i))
		o.Put(KeyOf(id), upsert(t, enc, id, 1))
	}
	var sizes []int
	ops := 0
	err := o.Drain(func(f []byte) error {
		sizes = append(sizes, len(f))
		m, _ := wire.Unmarshal(f)
		ops += len(m.(wire.Batch).Ops)
		return nil
	}, 2<<10, nil)
	if err != nil || ops != 500 {
		t.Fatalf("err %v, %d ops written, want 500", err, ops)
	}
	for _, n := range sizes {
		if n > 2<<10 {
			t.Fatalf("a frame of %d bytes, over the 2 KiB cap: %v", n, sizes)
		}
	}
	if len(sizes) < 5 {
		t.Fatalf("frames %v: want several", sizes)
	}
}

// wsPair returns the two ends of a real WebSocket over loopback: the
// server's end and the client's, closed when the test ends.
func wsPair(t testing.TB) (server, client *websocket.Conn) {
	t.Helper()
	accepted := make(chan *websocket.Conn, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		accepted <- ws
	}))
	t.Cleanup(hs.Close)
	client, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(hs.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	t.Cleanup(func() {
		client.CloseNow()
		server.CloseNow()
	})
	return server, client
}

// TestWriterTimeout: a write to a client that reads nothing fails with
// ErrWriteTimeout once the timeout passes, and closes the connection.
func TestWriterTimeout(t *testing.T) {
	ws, _ := wsPair(t)
	w := NewWatchdog(300 * time.Millisecond).NewWriter(ws)
	defer w.Close()
	if err := w.Write([]byte{0x90}); err != nil {
		t.Fatalf("a first small write: %v", err)
	}
	frame := make([]byte, 1<<20)
	start := time.Now()
	var err error
	for i := 0; ; i++ {
		err = w.Write(frame)
		if err != nil {
			break
		}
		if i > 1000 {
			t.Fatal("1 GiB written to a client that reads nothing")
		}
	}
	if !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("got %v, want ErrWriteTimeout", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the write returned after %v", d)
	}
	if err := w.Write([]byte{0x90}); !errors.Is(err, ErrWriteTimeout) {
		t.Fatalf("a write after the timeout: %v", err)
	}
}

// TestBehindWithoutCallback: an outbox that fell behind, drained without a
// behind callback, ends the drain with an error instead of a panic.
func TestBehindWithoutCallback(t *testing.T) {
	var o Outbox
	o.Limit = 1
	o.Put(KeyOf("a"), []byte{0x90, 0x90})
	if err := o.Drain(func([]byte) error { return nil }, 1<<10, nil); err == nil {
		t.Fatal("no error from a drain that fell behind without a callback")
	}
}

// TestCoalesce: coalescing keeps exactly the last op of every key, for a
// few ops and for many, and tells apart keys whose hashes collide.
func TestCoalesce(t *testing.T) {
	var p pending
	for i, id := range []string{"a", "b", "a", "c", "b"} {
		p = append(p, entry{Key{id: id, hash: 42}, []byte{byte(i)}}) // every hash alike
	}
	if dropped := p.coalesce(nil); dropped != 2 || len(p) != 3 {
		t.Fatalf("colliding keys: %d kept, %d bytes dropped, want 3 and 2", len(p), dropped)
	}
	for i, want := range map[string]byte{"a": 2, "c": 3, "b": 4} {
		if k := slices.IndexFunc(p, func(e entry) bool { return e.key.ID() == i }); k < 0 || p[k].op[0] != want {
			t.Fatalf("colliding keys: %s kept %v, want its last op %d", i, p, want)
		}
	}

	for _, n := range []int{2, 7, 8, 9, 300} {
		var p pending
		last := map[string][]byte{}
		total := 0
		for i := range n {
			id := "m" + string(rune('a'+i%(n/2+1)))
			op := []byte{byte(i), byte(i >> 8)}
			p = append(p, entry{KeyOf(id), op})
			last[id] = op
			total += len(op)
		}
		dropped := p.coalesce(nil)
		if len(p) != len(last) {
			t.Fatalf("n=%d: %d ops kept, want %d", n, len(p), len(last))
		}
		kept := 0
		for _, e := range p {
			id := e.key.ID()
			if !bytes.Equal(e.op, last[id]) {
				t.Fatalf("n=%d: marker %s kept op %v, want its last %v", n, id, e.op, last[id])
			}
			kept += len(e.op)
			delete(last, id)
		}
		if kept+dropped != total {
			t.Fatalf("n=%d: %d bytes kept + %d dropped, want %d", n, kept, dropped, total)
		}
	}
}

// TestLimitCoalesces: a client behind on a few markers that move often
// does not fall behind: reaching the limit coalesces, and only the latest
// op of each marker waits.
func TestLimitCoalesces(t *testing.T) {
	enc := wire.NewEncoder()
	var o Outbox
	o.Hold()
	o.Limit = 10 * len(upsert(t, enc, "a", 1))
	for v := range 200 {
		for _, id := range []string{"a", "b", "c"} {
			o.Put(KeyOf(id), upsert(t, enc, id, uint64(v%9+1)))
		}
		if o.Bytes() > o.Limit {
			t.Fatalf("%d bytes wait, over the limit %d", o.Bytes(), o.Limit)
		}
	}
	frames, ops, behind, _, _ := o.take(nil)
	if behind || len(frames) != 0 {
		t.Fatalf("behind %v, frames %d: want neither", behind, len(frames))
	}
	ops.coalesce(nil)
	if len(ops) != 3 {
		t.Fatalf("%d ops wait, want the last of each of 3 markers", len(ops))
	}
	for _, e := range ops {
		op := e.op
		m, err := wire.Unmarshal(append(wire.AppendBatchHeader(nil, 1), op...))
		if err != nil || m.(wire.Batch).Ops[0].Marker.Version != 199%9+1 {
			t.Fatalf("marker %s: %v %v, want version %d", e.key.ID(), m, err, 199%9+1)
		}
	}
}

// TestPutAllAsPuts: PutAll leaves an outbox as the same Puts one by one
// would: the same ops waiting in the same order, the same bytes, the same
// answer about starting a writer, coalescing at the limit and falling
// behind past it, and nothing taken once behind.
func TestPutAllAsPuts(t *testing.T) {
	enc := wire.NewEncoder()
	opSize := len(upsert(t, enc, "a", 1))
	for _, limit := range []int{1 << 20, 10 * opSize, 4 * opSize} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			var one, all Outbox
			one.Limit, all.Limit = limit, limit
			var es []Entry
			for v := range 30 {
				id := []string{"a", "b", "c", "d", "e", "f", "g"}[v%7]
				if limit == 4*opSize {
					id = fmt.Sprint("m", v) // no coalescing: falls behind
				}
				es = append(es, Entry{Key: KeyOf(id), Op: upsert(t, enc, id, uint64(v%9+1))})
			}
			startOne := false
			for _, e := range es {
				startOne = one.Put(e.Key, e.Op) || startOne
			}
			startAll := all.PutAll(es)
			if startOne != startAll || one.Bytes() != all.Bytes() || one.Behind() != all.Behind() {
				t.Fatalf("Puts: start %v, %d bytes, behind %v; PutAll: start %v, %d bytes, behind %v",
					startOne, one.Bytes(), one.Behind(), startAll, all.Bytes(), all.Behind())
			}
			_, opsOne, _, _, _ := one.take(nil)
			_, opsAll, _, _, _ := all.take(nil)
			if len(opsOne) != len(opsAll) {
				t.Fatalf("Puts leave %d ops, PutAll %d", len(opsOne), len(opsAll))
			}
			for i := range opsOne {
				if opsOne[i].key != opsAll[i].key || !bytes.Equal(opsOne[i].op, opsAll[i].op) {
					t.Fatalf("op %d: Puts %s, PutAll %s", i, opsOne[i].key.ID(), opsAll[i].key.ID())
				}
			}
			if all.Behind() && all.PutAll(es) {
				t.Fatal("PutAll on an outbox behind asks for a writer")
			}
		})
	}
}

// TestWakeFillsBeforeStopping: ops left to Fill reach the client whether
// the Wake finds the outbox idle (a writer must be started, which must
// call Fill though nothing waits in the outbox) or finds a writer running
// that already called Fill for the last time it would: the Wake makes it
// call Fill once more before it stops, instead of stopping with the ops
// never written.
func TestWakeFillsBeforeStopping(t *testing.T) {
	enc := wire.NewEncoder()
	var o Outbox
	o.Limit = 1 << 20
	var left []Entry    // ops left to Fill
	var late func()     // run by Fill after it looked, as a sender's Wake may come
	var lateWake []bool // what Wake answered there
	o.Fill = func(dst []Entry) ([]Entry, bool) {
		dst = append(dst, left...)
		left = nil
		if late != nil {
			f := late
			late = nil
			f()
		}
		return dst, true
	}
	leave := func(id string, v uint64) { left = append(left, Entry{Key: KeyOf(id), Op: upsert(t, enc, id, v)}) }

	leave("a", 1)
	if !o.Wake() {
		t.Fatal("Wake on an idle outbox does not ask for a writer")
	}
	if got := drainAll(t, &o); len(got) != 1 || !slices.Equal(batchIDs(t, got[0]), []string{"a@1"}) {
		t.Fatalf("the writer wrote %v, want one batch with a@1", got)
	}

	// A writer whose Fill computed b; the sender leaves c and wakes it
	// just after, while the writer writes b: with nothing in the outbox,
	// the writer would stop after b.
	leave("b", 1)
	if !o.Wake() {
		t.Fatal("Wake on an idle outbox does not ask for a writer")
	}
	late = func() {
		leave("c", 2)
		lateWake = append(lateWake, o.Wake())
	}
	got := drainAll(t, &o)
	if len(lateWake) != 1 || lateWake[0] {
		t.Fatalf("Wake during a writer's run answered %v, want one false (the writer runs)", lateWake)
	}
	if len(got) != 2 || !slices.Equal(batchIDs(t, got[1]), []string{"c@2"}) {
		t.Fatalf("the running writer wrote %v, want b's batch then c@2's", got)
	}
	o.Close()
	if o.Wake() {
		t.Fatal("Wake on a closed outbox asks for a writer")
	}
}
