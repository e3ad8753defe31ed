package web_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing/fstest"

	"github.com/pushmap/pushmap/web"
)

// Serve a built dist/ directory, here an in-memory stand-in. In a program:
// http.Handle("/", web.Handler(os.DirFS("web/dist"))).
func ExampleHandler() {
	dist := fstest.MapFS{
		"index.html":      {Data: []byte("<!doctype html><title>map</title>")},
		"pushmap.wasm":    {Data: []byte("\x00asm...")},
		"pushmap.wasm.br": {Data: []byte("(brotli bytes)")},
	}
	srv := httptest.NewServer(web.Handler(dist))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/pushmap.wasm", nil)
	req.Header.Set("Accept-Encoding", "gzip, br")
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding"), string(b))
	// Output: application/wasm br (brotli bytes)
}
