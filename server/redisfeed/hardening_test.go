package redisfeed_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/redis/rueidis"
)

// xaddLarge adds one entry with a Redis client: the entries of these tests
// are too large for redis-cli's command line.
func xaddLarge(t *testing.T, url string, fields ...string) {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fv := c.B().Xadd().Key("pushmap:updates").Id("*").FieldValue()
	for i := 0; i+1 < len(fields); i += 2 {
		fv = fv.FieldValue(fields[i], fields[i+1])
	}
	if err := c.Do(context.Background(), fv.Build()).Error(); err != nil {
		t.Fatalf("XADD of %d bytes: %.200v", len(strings.Join(fields, "")), err)
	}
}

// TestPoisonLimits: entries that break the data rules through a real Redis
// stream — a 5 MB prop, props of 8 million nested arrays (which once
// killed the process), ids and props that are not UTF-8 — are refused
// with their reason logged, and the good entries around them applied.
func TestPoisonLimits(t *testing.T) {
	f := start(t)
	view := f.watch(t, paris, 12)
	bad := []struct {
		fields []string
		reason string
	}{
		{[]string{"id", "big", "lon", "2.3", "lat", "48.8", "props", `{"x": "` + strings.Repeat("a", 5<<20) + `"}`},
			`prop "x" is 5242880 bytes, at most 4096 allowed`},
		{[]string{"id", "deep", "lon", "2.3", "lat", "48.8", "props", `{"x": ` + strings.Repeat("[", 8<<20) + `}`},
			"nested deeper than 32 levels"},
		{[]string{"json", `[{"id": "deep", "lon": 2.3, "lat": 48.8, "props": {"x": ` + strings.Repeat("[", 8<<20) + `}}]`},
			"nested deeper than 32 levels"},
		{[]string{"id", "bad\xff", "lon", "2.3", "lat", "48.8"}, "not valid UTF-8"},
		{[]string{"id", "u", "lon", "2.3", "lat", "48.8", "props", `{"n": "\ud800"}`}, "surrogate"},
		{[]string{"json", "{\"id\": \"j\xff\", \"lon\": 2.3, \"lat\": 48.8}"}, "invalid UTF-8"},
	}
	f.xadd(t, "id", "first", "lon", "2.30", "lat", "48.85")
	for _, b := range bad {
		xaddLarge(t, f.redis.URL, b.fields...)
	}
	f.xadd(t, "id", "last", "lon", "2.31", "lat", "48.85")
	c := f.run(t, &redisfeed.Options{Batch: 5})
	sees(t, view, "first", "last")
	f.handled(t, c, int64(len(bad)+2))
	if st := c.Stats(); st.Bad != int64(len(bad)) || st.Applied != 2 {
		t.Fatalf("stats %+v, want %d bad and 2 applied", st, len(bad))
	}
	logs := f.logs.String()
	for _, b := range bad {
		if !strings.Contains(logs, b.reason) {
			t.Errorf("the logs do not say %q", b.reason)
		}
	}
}
