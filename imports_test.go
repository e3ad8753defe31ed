package pushmap_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportGrouping: every Go file of the repository (both modules)
// imports the standard library first, then, after one blank line, the
// rest, each group sorted: the grouping goimports leaves.
func TestImportGrouping(t *testing.T) {
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "testdata", "artifacts", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		// groups: the import paths of each run of lines without a blank
		// line between them.
		var groups [][]string
		last := -1
		for _, spec := range f.Imports {
			p, _ := strconv.Unquote(spec.Path.Value)
			line := fset.Position(spec.Pos()).Line
			if spec.Doc != nil {
				line = fset.Position(spec.Doc.Pos()).Line
			}
			if last < 0 || line > last+1 {
				groups = append(groups, nil)
			}
			groups[len(groups)-1] = append(groups[len(groups)-1], p)
			last = fset.Position(spec.End()).Line
		}
		if msg := checkGroups(groups); msg != "" {
			t.Errorf("%s: %s; want the standard library, a blank line, then the rest, each sorted", path, msg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func isStd(path string) bool { return !strings.Contains(strings.Split(path, "/")[0], ".") }

// checkGroups says what is wrong with a file's import groups, or "".
func checkGroups(groups [][]string) string {
	if len(groups) > 2 {
		return strconv.Itoa(len(groups)) + " groups of imports"
	}
	for i, g := range groups {
		for j, p := range g {
			if j > 0 && g[j-1] > p {
				return "imports not sorted: " + g[j-1] + " before " + p
			}
			if std := isStd(p); std != (i == 0 && isStd(g[0])) {
				return "the standard library mixed with other imports: " + p
			}
		}
	}
	if len(groups) == 2 && (!isStd(groups[0][0]) || isStd(groups[1][0])) {
		return "two groups, not the standard library then the rest"
	}
	return ""
}
