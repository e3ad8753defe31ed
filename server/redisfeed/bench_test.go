package redisfeed_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/pushmap/pushmap/geo"
	"github.com/pushmap/pushmap/server/redisfeed"
	"github.com/redis/rueidis"
)

// BenchmarkIngestRedis measures markers/s from feeds to the server through
// a real redis-server: each op is a pipelined batch of 1,000 XADDs (one
// per marker, the documented format) and the clock runs until the server
// has applied them all. 100 clients watch parts of the world.
func BenchmarkIngestRedis(b *testing.B) {
	const batch = 1000
	for _, format := range []string{"fields", "json"} {
		b.Run(format, func(b *testing.B) {
			f := start(b)
			for i := range 100 {
				lon := -170 + float64(i%34)*10
				lat := -60 + float64(i/34)*40
				f.watch(b, geo.BBox(lon, lat, lon+5, lat+5), 8)
			}
			c := f.run(b, &redisfeed.Options{Batch: batch})
			client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{f.redis.Addr}, DisableCache: true})
			if err != nil {
				b.Fatal(err)
			}
			defer client.Close()
			ctx := context.Background()
			r := rand.New(rand.NewPCG(1, 2))
			cmds := make(rueidis.Commands, batch)
			sent := int64(0)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for j := range cmds {
					id := "vehicle-" + strconv.Itoa(j)
					lon := strconv.FormatFloat(-180+360*r.Float64(), 'f', 6, 64)
					lat := strconv.FormatFloat(-85+170*r.Float64(), 'f', 6, 64)
					x := client.B().Xadd().Key("pushmap:updates").Id("*").FieldValue()
					if format == "json" {
						x = x.FieldValue("json", fmt.Sprintf(`{"id":%q,"layer":"vehicles","lon":%s,"lat":%s}`, id, lon, lat))
					} else {
						x = x.FieldValue("id", id).FieldValue("layer", "vehicles").FieldValue("lon", lon).FieldValue("lat", lat)
					}
					cmds[j] = x.Build()
				}
				for _, resp := range client.DoMulti(ctx, cmds...) {
					if err := resp.Error(); err != nil {
						b.Fatal(err)
					}
				}
				sent += batch
			}
			deadline := time.Now().Add(5 * time.Minute)
			for c.Stats().Entries < sent {
				if time.Now().After(deadline) {
					b.Fatalf("applied %d of %d entries", c.Stats().Entries, sent)
				}
				time.Sleep(100 * time.Microsecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(sent)/b.Elapsed().Seconds(), "markers/s")
			if st := c.Stats(); st.Bad != 0 {
				b.Fatalf("%d bad entries", st.Bad)
			}
		})
	}
}
