package audit

import (
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/internal/leakcheck"
	"github.com/pushmap/pushmap/wire"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// A testLog is a Log written out by hand: each marker's versions in order,
// with the tick that published each.
type testLog map[uint32][]ver

type ver struct {
	tick int64
	p    geo.Point
}

func (l testLog) Pos(m, v uint32) geo.Point { return l[m][v-1].p }
func (l testLog) Tick(m, v uint32) int64    { return l[m][v-1].tick }
func (l testLog) Version(m uint32, t int64) uint32 {
	n := uint32(0)
	for _, x := range l[m] {
		if x.tick <= t {
			n++
		}
	}
	return n
}
func (l testLog) Due(t int64, fn func(m, v uint32)) {
	for m := range uint32(l.Bound(t)) {
		for i, x := range l[m] {
			if x.tick == t {
				fn(m, uint32(i+1))
			}
		}
	}
}
func (l testLog) Bound(int64) int {
	n := 0
	for m := range l {
		n = max(n, int(m)+1)
	}
	return n
}

const ms = int64(time.Millisecond)

// journal returns a journal of ticks 0..n-1, tick t sent at t×100 ms and
// acknowledged 2 ms later.
func journal(n int64) *Journal {
	j := NewJournal(n)
	for t := range n {
		j.Sent(t, t*100*ms)
		j.Acked(t, t*100*ms+2*ms)
	}
	return j
}

var (
	box   = geo.BBox(0, 0, 1, 1)
	other = geo.BBox(5, 5, 6, 6)
	in1   = geo.Pt(0.5, 0.5)
	in2   = geo.Pt(0.6, 0.5)
	in3   = geo.Pt(0.7, 0.5)
	out1  = geo.Pt(2, 2)
	out2  = geo.Pt(2.1, 2)
)

// window judges ticks [from, to) with records up to 10 s.
func window(from, to int64) Window {
	return Window{From: from, To: to, Cut: 10_000 * ms, Region: geo.BBox(-10, -10, 10, 10), Cell: [2]float64{1, 1}, Misses: 10}
}

// viewAt returns a client whose view box was sent at 10 ms and acknowledged
// at 12 ms.
func viewAt(b geo.Box) *Client {
	c := NewClient()
	c.ViewSent(b, 10*ms)
	c.ViewAcked(b, 12*ms)
	return c
}

func rec(t int64, m, v uint32, k Kind) Record { return Record{T: t, M: m, V: v, Kind: k} }

// atPublished gives c's records the positions log published.
func atPublished(log Log, c *Client) *Client {
	for _, b := range c.recs {
		for i := range b {
			if r := &b[i]; r.V > 0 {
				p := log.Pos(r.M, r.V)
				r.Lon, r.Lat = int32(wire.ToE7(p.Lon)), int32(wire.ToE7(p.Lat))
			}
		}
	}
	return c
}

func TestEvaluate(t *testing.T) {
	// Marker 0 moves inside the box at ticks 0, 5, 10; marker 1 moves
	// outside it; marker 2 leaves the box at tick 6; marker 3 enters it at
	// tick 7.
	log := testLog{
		0: {{0, in1}, {5, in2}, {10, in3}},
		1: {{0, out1}, {5, out2}},
		2: {{0, in1}, {6, out1}},
		3: {{0, out1}, {7, in2}},
	}
	// back is log with marker 2 back in the box at tick 11.
	back := maps.Clone(log)
	back[2] = []ver{{0, in1}, {6, out1}, {11, in3}}
	tests := []struct {
		name    string
		from    int64
		client  func() *Client
		log     testLog // nil: log
		want    Result  // Missed is compared by length only
		misses  int
		precise bool // precision must be 1
	}{
		{
			name: "every in-view update pushed",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(20*ms, 0, 1, Snapshot), rec(20*ms, 2, 1, Snapshot),
					rec(503*ms, 0, 2, Update), rec(603*ms, 2, 0, Remove), rec(703*ms, 3, 2, Update), rec(1003*ms, 0, 3, Update))
				return c
			},
			from: 1,
			want: Result{Deliveries: 4, Useful: 4, InView: 3, InViewDelivered: 3, Leaves: 1, LeavesDelivered: 1},
		},
		{
			name: "nothing pushed",
			client: func() *Client {
				return viewAt(box)
			},
			from:   1,
			want:   Result{InView: 3, Leaves: 1},
			misses: 4,
		},
		{
			name: "an update outside the view is not useful",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(20*ms, 0, 1, Snapshot), rec(20*ms, 2, 1, Snapshot),
					rec(503*ms, 0, 2, Update), rec(503*ms, 1, 2, Update), rec(603*ms, 2, 0, Remove),
					rec(703*ms, 3, 2, Update), rec(1003*ms, 0, 3, Update))
				return c
			},
			from: 1,
			want: Result{Deliveries: 5, Useful: 4, InView: 3, InViewDelivered: 3, Leaves: 1, LeavesDelivered: 1},
		},
		{
			name: "a leave told by the new position counts",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(503*ms, 0, 2, Update), rec(603*ms, 2, 2, Update), rec(703*ms, 3, 2, Update), rec(1003*ms, 0, 3, Update))
				return c
			},
			from: 1,
			want: Result{Deliveries: 4, Useful: 4, InView: 3, InViewDelivered: 3, Leaves: 1, LeavesDelivered: 1},
		},
		{
			name: "a duplicate is not news",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(503*ms, 0, 2, Update), rec(504*ms, 0, 2, Update))
				return c
			},
			from:   1,
			want:   Result{Deliveries: 2, Useful: 1, InView: 3, InViewDelivered: 1, Leaves: 1},
			misses: 3,
		},
		{
			// Marker 0's v2 (tick 5) was coalesced away by its v3 (tick
			// 10): delivered by the newer version, not missed.
			name: "a version coalesced away is superseded, not missed",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(20*ms, 0, 1, Snapshot), rec(20*ms, 2, 1, Snapshot),
					rec(603*ms, 2, 0, Remove), rec(703*ms, 3, 2, Update), rec(1003*ms, 0, 3, Update))
				return c
			},
			from: 1,
			want: Result{Deliveries: 3, Useful: 3, InView: 3, InViewDelivered: 3, Leaves: 1, LeavesDelivered: 1, Superseded: 1},
		},
		{
			// Marker 0's last version (v3, tick 10) never arrives: nothing
			// newer supersedes it, so it is missed; v2, received, is not
			// superseded by anything.
			name: "the newest version never arrives",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(20*ms, 0, 1, Snapshot), rec(20*ms, 2, 1, Snapshot),
					rec(503*ms, 0, 2, Update), rec(603*ms, 2, 0, Remove), rec(703*ms, 3, 2, Update))
				return c
			},
			from:   1,
			want:   Result{Deliveries: 3, Useful: 3, InView: 3, InViewDelivered: 2, Leaves: 1, LeavesDelivered: 1},
			misses: 1,
		},
		{
			// Marker 2 leaves at tick 6 (v2) and comes back at tick 11
			// (v3, below): the client, stalled, got only v3. The leave is
			// superseded; so is marker 0's v2 by v3.
			name: "a leave superseded by the marker's return",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(20*ms, 0, 1, Snapshot), rec(20*ms, 2, 1, Snapshot),
					rec(703*ms, 3, 2, Update), rec(1103*ms, 0, 3, Update), rec(1103*ms, 2, 3, Update))
				return c
			},
			log:  back,
			from: 1,
			want: Result{Deliveries: 3, Useful: 3, InView: 4, InViewDelivered: 4, Leaves: 1, LeavesDelivered: 1, Superseded: 2},
		},
		{
			name: "updates before the window do not count",
			client: func() *Client {
				c := viewAt(box)
				c.Add(rec(503*ms, 0, 2, Update), rec(603*ms, 2, 0, Remove), rec(703*ms, 3, 2, Update), rec(1003*ms, 0, 3, Update))
				return c
			},
			from: 8,
			want: Result{Deliveries: 1, Useful: 1, InView: 1, InViewDelivered: 1},
		},
		{
			name: "a pan racing an update makes it ambiguous",
			client: func() *Client {
				// The view moves away from the box while tick 5 is applied.
				c := viewAt(box)
				c.ViewSent(other, 501*ms)
				c.ViewAcked(other, 530*ms)
				return c
			},
			from: 1,
			// Tick 5 (marker 0 v2) is ambiguous; ticks 6, 7, 10 are
			// applied after the pan: nothing in view.
			want: Result{Ambiguous: 1},
		},
		{
			name: "an update before the first view is acknowledged is ambiguous",
			client: func() *Client {
				c := NewClient()
				c.ViewSent(box, 499*ms)
				c.ViewAcked(box, 540*ms)
				c.Add(rec(540*ms, 0, 2, Snapshot), rec(540*ms, 2, 1, Snapshot), rec(603*ms, 2, 0, Remove), rec(703*ms, 3, 2, Update), rec(1003*ms, 0, 3, Update))
				return c
			},
			from: 1,
			want: Result{Deliveries: 3, Useful: 3, InView: 2, InViewDelivered: 2, Leaves: 1, LeavesDelivered: 1, Ambiguous: 1},
		},
		{
			name: "a view never acknowledged",
			client: func() *Client {
				c := NewClient()
				c.ViewSent(box, 10*ms)
				return c
			},
			from: 1,
			want: Result{Ambiguous: 4},
		},
		{
			name: "polling",
			client: func() *Client {
				c := viewAt(box)
				c.Add(
					// Before tick 5: markers 0 and 2 at version 1.
					rec(400*ms, 0, 0, PollBegin), rec(400*ms, 0, 1, PollItem), rec(400*ms, 2, 1, PollItem),
					// After tick 6: marker 0 v2 is news, marker 2 gone.
					rec(650*ms, 0, 0, PollBegin), rec(650*ms, 0, 2, PollItem),
					// After tick 7: marker 0 again (not news), marker 3 v2.
					rec(750*ms, 0, 0, PollBegin), rec(750*ms, 0, 2, PollItem), rec(750*ms, 3, 2, PollItem),
					// After tick 10: marker 0 v3 and 3 v2 again.
					rec(1050*ms, 0, 0, PollBegin), rec(1050*ms, 0, 3, PollItem), rec(1050*ms, 3, 2, PollItem),
				)
				return c
			},
			from: 1,
			want: Result{Deliveries: 5, Useful: 3, InView: 3, InViewDelivered: 3, Leaves: 1, LeavesDelivered: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := log
			if tc.log != nil {
				l = tc.log
			}
			r := Evaluate(l, journal(12), window(tc.from, 12), []*Client{atPublished(l, tc.client())})
			if len(r.Missed) != tc.misses {
				t.Errorf("missed %v, want %d misses", r.Missed, tc.misses)
			}
			r.Missed = nil
			if !reflect.DeepEqual(r, tc.want) {
				t.Errorf("got  %+v\nwant %+v", r, tc.want)
			}
		})
	}
}

func TestStaleness(t *testing.T) {
	log := testLog{0: {{0, in1}, {5, in2}}, 1: {{0, in1}}}
	c := viewAt(box)
	// Marker 0 v2 sent at 500 ms arrives at 540 ms; marker 1 is never
	// received.
	c.Add(rec(20*ms, 0, 1, Snapshot), rec(540*ms, 0, 2, Update))
	w := window(1, 12)
	w.StaleClients = 1
	w.Samples = []int64{520 * ms, 600 * ms}
	r := Evaluate(log, journal(12), w, []*Client{c})
	// At 520 ms: marker 0 stale since 500 ms (20 ms), marker 1 since the
	// view's acknowledgement at 12 ms (508 ms). At 600 ms: marker 0 fresh,
	// marker 1 588 ms.
	want := []int64{20 * ms, 508 * ms, 0, 588 * ms}
	var sum, maxAge int64
	for _, a := range want {
		sum += a
		maxAge = max(maxAge, a)
	}
	if r.StaleN != int64(len(want)) || r.StaleSum != sum || r.StaleMax != maxAge {
		t.Errorf("staleness n %d sum %v max %v, want %d, %v, %v", r.StaleN, time.Duration(r.StaleSum), time.Duration(r.StaleMax),
			len(want), time.Duration(sum), time.Duration(maxAge))
	}
}

// TestEvaluateInParts checks that a second evaluation goes on from the
// state the first left: a version received in the first part is not news
// in the second.
func TestEvaluateInParts(t *testing.T) {
	log := testLog{0: {{0, in1}, {5, in2}, {10, in3}}}
	c := viewAt(box)
	c.Add(rec(503*ms, 0, 2, Update), rec(1003*ms, 0, 2, Update), rec(1004*ms, 0, 3, Update))
	j := journal(12)
	w := window(1, 6)
	w.Cut = 600 * ms
	r := Evaluate(log, j, w, []*Client{c})
	if r.InView != 1 || r.InViewDelivered != 1 || r.Deliveries != 1 || r.Useful != 1 {
		t.Errorf("first part %+v", r)
	}
	w = window(6, 12)
	r = Evaluate(log, j, w, []*Client{c})
	// The repeated v2 is outside the window; v3 is news.
	if r.InView != 1 || r.InViewDelivered != 1 || r.Deliveries != 1 || r.Useful != 1 {
		t.Errorf("second part %+v", r)
	}
}

func TestPossible(t *testing.T) {
	views := []View{{Sent: 10, Acked: 20}, {Sent: 100, Acked: 110}, {Sent: 200, Acked: Never}}
	tests := []struct {
		a0, a1 int64
		lo, hi int
	}{
		{0, 5, -1, -1},
		{5, 15, -1, 0},
		{25, 30, 0, 0},
		{95, 105, 0, 1},
		{111, 150, 1, 1},
		{150, 250, 1, 2},
		{300, 400, 1, 2}, // the last view was never acknowledged
	}
	for _, tc := range tests {
		lo, hi := possible(views, tc.a0, tc.a1)
		if lo != tc.lo || hi != tc.hi {
			t.Errorf("possible(%d, %d) = [%d, %d], want [%d, %d]", tc.a0, tc.a1, lo, hi, tc.lo, tc.hi)
		}
	}
}

func TestViewAcked(t *testing.T) {
	c := NewClient()
	a, b := geo.BBox(0, 0, 1, 1), geo.BBox(1, 1, 2, 2)
	c.ViewSent(a, 1)
	c.ViewSent(b, 2)
	if c.ViewAcked(geo.BBox(3, 3, 4, 4), 3) {
		t.Error("acknowledged a view never sent")
	}
	if !c.ViewAcked(b, 5) {
		t.Fatal("view b not acknowledged")
	}
	vs := c.Views()
	if vs[0].Acked != 5 || vs[1].Acked != 5 {
		t.Errorf("acks %d, %d; a view skipped over takes the later acknowledgement", vs[0].Acked, vs[1].Acked)
	}
}

func TestJournal(t *testing.T) {
	j := journal(5)
	if j.Last() != 4 {
		t.Fatalf("Last %d", j.Last())
	}
	for _, tc := range []struct{ at, sent, acked int64 }{
		{-1, -1, -1}, {0, 0, -1}, {1 * ms, 0, -1}, {2 * ms, 0, 0}, {150 * ms, 1, 1}, {1000 * ms, 4, 4},
	} {
		if got := j.SentBy(tc.at); got != tc.sent {
			t.Errorf("SentBy(%v) = %d, want %d", time.Duration(tc.at), got, tc.sent)
		}
		if got := j.AckedBy(tc.at); got != tc.acked {
			t.Errorf("AckedBy(%v) = %d, want %d", time.Duration(tc.at), got, tc.acked)
		}
	}
	if j.AckedAt(7) != Never {
		t.Error("a tick never sent has an acknowledgement")
	}
}

// TestWrongPositions: an update or poll item received at another position
// than its version's is counted; a snapshot's position is not checked.
func TestWrongPositions(t *testing.T) {
	log := testLog{0: {{0, in1}, {5, in2}}}
	at := func(r Record, p geo.Point) Record {
		r.Lon, r.Lat = int32(wire.ToE7(p.Lon)), int32(wire.ToE7(p.Lat))
		return r
	}
	c := viewAt(box)
	c.Add(at(rec(20*ms, 0, 1, Snapshot), out1),
		at(rec(503*ms, 0, 2, Update), in2),
		at(rec(504*ms, 0, 2, Update), in1),
		rec(600*ms, 0, 0, PollBegin),
		at(rec(600*ms, 0, 2, PollItem), out2))
	if got := Evaluate(log, journal(10), window(0, 10), []*Client{c}).WrongPositions; got != 2 {
		t.Fatalf("%d wrong positions, want 2", got)
	}
}

// TestRecordBlocks: records added across block boundaries, in calls of
// any size, come back whole and in order; Evaluate takes those up to its
// cut and keeps the rest for the next window.
func TestRecordBlocks(t *testing.T) {
	c := NewClient()
	total := 3*recordBlock + 17
	for i := 0; i < total; {
		n := min(1+i%700, total-i)
		rs := make([]Record, n)
		for k := range rs {
			rs[k] = Record{T: int64(i + k), Kind: PollBegin}
		}
		c.Add(rs...)
		i += n
	}
	cut := int64(2*recordBlock + 5)
	w := window(0, 1)
	w.Cut = cut
	Evaluate(testLog{}, journal(1), w, []*Client{c})
	var rest []int64
	for _, b := range c.recs {
		for _, r := range b {
			rest = append(rest, r.T)
		}
	}
	if len(rest) != total-int(cut)-1 || rest[0] != cut+1 || !slices.IsSorted(rest) || rest[len(rest)-1] != int64(total-1) {
		t.Fatalf("kept %d records from %v to %v, want %d from %d in order", len(rest), rest[0], rest[len(rest)-1], total-int(cut)-1, cut+1)
	}
}
