//go:build !js

package e2e_test

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pushmap/pushmap/server"
	"github.com/pushmap/pushmap/web"
)

// TestPackage installs the browser client as a user would: `npm pack` of
// web/ (the package @pushmap/client), a sample project that depends on the
// tarball and on maplibre-gl from npm, built with Vite; and the same
// installed package loaded with a plain <script type=module> and an import
// map. Each page is served beside a real pushmap server and must draw the
// server's marker in Chromium.
func TestPackage(t *testing.T) {
	npm := lookNPM(t)
	b := browser(t)
	pkgDir := webDir(t)

	tmp := t.TempDir()
	tarball := npmPack(t, npm, pkgDir, tmp)
	sample := filepath.Join(tmp, "sample")
	writeSample(t, pkgDir, sample, tarball)
	run(t, sample, npm, "install", "--no-audit", "--no-fund", "--prefer-offline")
	run(t, sample, npm, "exec", "--no", "--", "vite", "build", "--logLevel", "warn")

	// What Vite made of the package: the wasm and wasm_exec.js as assets of
	// their own, content-hashed by Vite.
	assets, err := filepath.Glob(filepath.Join(sample, "dist", "assets", "*"))
	if err != nil {
		t.Fatal(err)
	}
	var wasm, wasmExec bool
	for _, a := range assets {
		base := filepath.Base(a)
		wasm = wasm || strings.HasPrefix(base, "pushmap-") && strings.HasSuffix(base, ".wasm")
		wasmExec = wasmExec || strings.HasPrefix(base, "wasm_exec-") && strings.HasSuffix(base, ".js")
	}
	if !wasm || !wasmExec {
		t.Fatalf("vite build emitted %v: want pushmap-*.wasm and wasm_exec-*.js among its assets", assets)
	}

	for _, tc := range []struct{ name, root, page string }{
		{"vite", filepath.Join(sample, "dist"), "/"},
		{"script-module", sample, "/plain.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveSample(t, tc.root)
			p, err := b.Open(testCtx(t, 30*time.Second), "http://"+addr+tc.page)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("console of %s:\n\t%s", tc.page, strings.Join(p.ConsoleLines(), "\n\t"))
				}
				p.Close()
			})
			if err := p.WaitConnected(testCtx(t, 30*time.Second)); err != nil {
				t.Fatal(err)
			}
			waitShownIDs(t, p, "louvre")
			if errs := p.Errors(); len(errs) > 0 {
				t.Errorf("page errors: %v", errs)
			}
		})
	}
}

// lookNPM returns the npm binary, skipping t without one unless
// PUSHMAP_REQUIRE_BROWSER=1 (make test), which makes it a failure.
func lookNPM(t *testing.T) string {
	t.Helper()
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_BROWSER") == "1" {
			t.Fatalf("npm is needed to pack the browser client: %v", err)
		}
		t.Skipf("skipping: no npm on PATH: %v", err)
	}
	return npm
}

// webDir returns web/, the package's directory, with its assets built
// (make wasm).
func webDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "web"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "lib", "pushmap.wasm")); err != nil {
		if os.Getenv("PUSHMAP_REQUIRE_BROWSER") == "1" {
			t.Fatalf("web/lib/pushmap.wasm missing (run make wasm): %v", err)
		}
		t.Skipf("web/lib/pushmap.wasm missing (run make wasm)")
	}
	return dir
}

// npmPack packs the package in dir into out and returns the tarball's path,
// after checking that it holds what the exports map names and no more.
func npmPack(t *testing.T, npm, dir, out string) string {
	t.Helper()
	raw := run(t, dir, npm, "pack", "--json", "--pack-destination", out)
	var packed []struct {
		Filename string `json:"filename"`
		Files    []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(raw[strings.Index(raw, "["):]), &packed); err != nil || len(packed) != 1 {
		t.Fatalf("npm pack --json: %v in %q", err, raw)
	}
	var files []string
	for _, f := range packed[0].Files {
		files = append(files, f.Path)
	}
	for _, want := range []string{"package.json", "lib/pushmap.js", "lib/pushmap.wasm", "lib/wasm_exec.js",
		"lib/adapters/maplibre.js", "lib/adapters/leaflet.js", "lib/types/pushmap.d.ts"} {
		if !slices.Contains(files, want) {
			t.Errorf("the tarball lacks %s: %v", want, files)
		}
	}
	for _, f := range files {
		if strings.HasPrefix(f, "demo/") || strings.HasPrefix(f, "test/") || strings.HasSuffix(f, ".go") {
			t.Errorf("the tarball holds %s, which is not the library's", f)
		}
	}
	return filepath.Join(out, packed[0].Filename)
}

// writeSample writes the sample project into dir: testdata/sample's files
// and a package.json depending on the tarball, and on the maplibre-gl and
// vite versions web/package.json develops with.
func writeSample(t *testing.T, pkgDir, dir, tarball string) {
	t.Helper()
	var pkg struct {
		DevDependencies map[string]string `json:"devDependencies"`
		Overrides       map[string]string `json:"overrides"`
	}
	data, err := os.ReadFile(filepath.Join(pkgDir, "package.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &pkg); err != nil {
		t.Fatal(err)
	}
	sample := map[string]any{
		"name": "pushmap-sample", "private": true, "type": "module",
		"dependencies": map[string]string{
			"@pushmap/client": "file:" + tarball,
			"maplibre-gl":     pkg.DevDependencies["maplibre-gl"],
		},
		"devDependencies": map[string]string{"vite": pkg.DevDependencies["vite"]},
		"overrides":       pkg.Overrides,
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, _ := json.MarshalIndent(sample, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "package.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"index.html", "main.js", "plain.html"} {
		data, err := os.ReadFile(filepath.Join("testdata", "sample", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// run runs name with args in dir and returns its standard output; it fails
// t, quoting the output, when the command fails.
func run(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	began := time.Now()
	out, err := cmd.Output()
	t.Logf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), time.Since(began).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s %s in %s: %v\nstdout:\n%s\nstderr:\n%s", name, strings.Join(args, " "), dir, err, out, stderr.String())
	}
	return string(out)
}

// serveSample serves root at / and a pushmap server holding one vehicle at
// the Louvre at /ws, on a fresh port; it returns the address.
func serveSample(t *testing.T, root string) string {
	t.Helper()
	srv, err := server.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Upsert(car("louvre", 2.3376, 48.8606)); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/ws", srv)
	mux.Handle("/", web.Handler(os.DirFS(root)))
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
	})
	return ln.Addr().String()
}
