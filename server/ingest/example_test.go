package ingest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/server/ingest"
)

// A pushmap server with its feed endpoint at /feed: a feed posts a batch of
// markers, then a batch with a bad item, which is refused whole.
func Example() {
	srv, err := server.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	feed, err := ingest.New(srv, &ingest.Options{Keys: []ingest.Key{{Secret: "s3cret"}}})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)                                // map clients
	mux.Handle("/feed/", http.StripPrefix("/feed", feed)) // feeds
	hs := httptest.NewServer(mux)
	defer hs.Close()

	post := func(body string) {
		req, _ := http.NewRequest("POST", hs.URL+"/feed/markers", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer s3cret")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		answer, _ := io.ReadAll(resp.Body)
		fmt.Printf("%d %s", resp.StatusCode, answer)
	}
	post(`[{"id": "bus-42", "layer": "vehicles", "lon": 2.3522, "lat": 48.8566},
	       {"id": "tram-7", "layer": "vehicles", "lon": 4.8357, "lat": 45.7640, "ttl": 600}]`)
	post(`[{"id": "bus-43", "lon": 2.35, "lat": 48.85}, {"id": "bus-44", "lon": 2.35, "lat": 91}]`)

	m, _ := srv.Marker("bus-42")
	fmt.Println(m.ID, m.Pos, "version", m.Version)
	_, ok := srv.Marker("bus-43")
	fmt.Println("bus-43 applied:", ok)
	// Output:
	// 200 {"applied":2}
	// 400 {"type":"https://pushmap.dev/problems/invalid-items","title":"Invalid items","status":400,"detail":"1 item is invalid; nothing was applied","errors":[{"index":1,"id":"bus-44","reason":"lat 91 is outside [-90, 90]"}]}
	// bus-42 (2.3522, 48.8566) version 1
	// bus-43 applied: false
}
