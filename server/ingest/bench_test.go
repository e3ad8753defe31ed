package ingest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/pushmap/pushmap/geo"
	"github.com/vmihailenco/msgpack/v5"
)

// benchBodies returns n bodies of batch markers each, in the format of
// contentType, with the same ids moving between bodies.
func benchBodies(b *testing.B, contentType string, n, batch int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, n)
	for i := range bodies {
		items := make([]map[string]any, batch)
		features := make([]map[string]any, batch)
		for j := range items {
			id := fmt.Sprintf("vehicle-%d", j)
			lon, lat := -180+360*r.Float64(), -85+170*r.Float64()
			items[j] = map[string]any{"id": id, "layer": "vehicles", "lon": lon, "lat": lat, "time": 1700000000000 + i}
			features[j] = map[string]any{"type": "Feature", "id": id,
				"geometry":   map[string]any{"type": "Point", "coordinates": []float64{lon, lat}},
				"properties": map[string]any{"layer": "vehicles", "time": 1700000000000 + i}}
		}
		var err error
		switch contentType {
		case "application/json":
			bodies[i], err = json.Marshal(items)
		case "application/geo+json":
			bodies[i], err = json.Marshal(map[string]any{"type": "FeatureCollection", "features": features})
		case "application/msgpack":
			bodies[i], err = msgpack.Marshal(items)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	return bodies
}

// BenchmarkIngestHTTP measures markers/s through POST /markers in batches
// of 1,000, over a real loopback HTTP connection into a real server with
// 100 clients watching parts of the world.
func BenchmarkIngestHTTP(b *testing.B) {
	const batch = 1000
	for _, bc := range []struct {
		name, contentType string
		parallel          bool
	}{
		{"json", "application/json", false},
		{"geojson", "application/geo+json", false},
		{"msgpack", "application/msgpack", false},
		{"json_parallel", "application/json", true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := start(b, nil)
			for i := range 100 {
				lon := -170 + float64(i%34)*10
				lat := -60 + float64(i/34)*40
				box := geo.BBox(lon, lat, lon+5, lat+5)
				watch(b, f, box, 8)
			}
			bodies := benchBodies(b, bc.contentType, 8, batch)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			defer client.CloseIdleConnections()
			post := func(body []byte) {
				req, _ := http.NewRequest("POST", f.feed+"/markers", bytes.NewReader(body))
				req.Header.Set("Content-Type", bc.contentType)
				req.Header.Set("Authorization", "Bearer "+feedKey)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
				}
			}
			b.SetBytes(int64(len(bodies[0])))
			b.ReportAllocs()
			b.ResetTimer()
			posts := b.N
			if bc.parallel {
				b.RunParallel(func(pb *testing.PB) {
					i := 0
					for pb.Next() {
						post(bodies[i%len(bodies)])
						i++
					}
				})
			} else {
				posts = 0
				for b.Loop() {
					post(bodies[posts%len(bodies)])
					posts++
				}
			}
			b.ReportMetric(float64(posts*batch)/b.Elapsed().Seconds(), "markers/s")
		})
	}
}
