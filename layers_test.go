package pushmap_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/pushmap/pushmap/"

// layersFromDesign reads the table of docs/design.md's "The packages, in
// layer order": package path (relative to the module) → layer.
func layersFromDesign(t *testing.T) map[string]int {
	t.Helper()
	f, err := os.Open("docs/design.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\d+) [^|]*\| ([^|]*) \|`)
	path := regexp.MustCompile("`([^`]+)`")
	layers := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := row.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		layer, _ := strconv.Atoi(m[1])
		for _, p := range path.FindAllStringSubmatch(m[2], -1) {
			layers[p[1]] = layer
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(layers) == 0 {
		t.Fatal("docs/design.md has no layer table (rows \"| <layer> <name> | `pkg`, ... | ... |\")")
	}
	return layers
}

// TestImportLayers: no package of the module imports one of a layer above
// its own, as docs/design.md's layer table orders them, natively and for
// js/wasm; every package is in the table.
func TestImportLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	layers := layersFromDesign(t)
	for _, env := range [][]string{nil, {"GOOS=js", "GOARCH=wasm"}} {
		build := "native"
		if env != nil {
			build = strings.Join(env, " ")
		}
		cmd := exec.Command("go", "list", "-deps", "-json", "./...")
		cmd.Env = append(os.Environ(), env...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (%s): %v\n%s", build, err, stderr.String())
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		checked := 0
		for dec.More() {
			var p struct {
				ImportPath string
				Imports    []string
				Module     *struct{ Path string }
			}
			if err := dec.Decode(&p); err != nil {
				t.Fatal(err)
			}
			if p.Module == nil || p.Module.Path+"/" != module || p.ImportPath+"/" == module {
				continue // the standard library, another module, or this test's
			}
			name := strings.TrimPrefix(p.ImportPath, module)
			own, ok := layers[name]
			if !ok {
				t.Errorf("%s is in no layer of docs/design.md's table; add it", name)
				continue
			}
			checked++
			for _, imp := range p.Imports {
				dep, ok := strings.CutPrefix(imp, module)
				if !ok {
					continue
				}
				if l, ok := layers[dep]; ok && l > own {
					t.Errorf("%s: %s (layer %d) imports %s (layer %d), a layer above it", build, name, own, dep, l)
				}
			}
		}
		if checked == 0 {
			t.Fatalf("go list (%s) listed no package of the module", build)
		}
	}
}
