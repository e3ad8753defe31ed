// Package micro turns the output of pushmap's micro-benchmarks (`go test
// -bench`, which `make bench` writes into files, the command that made each
// on its first line) into the tables of docs/benchmarks.md: each table
// between its own markers, <!-- bench:NAME:begin --> and
// <!-- bench:NAME:end -->, with the command that measured it. Figures are
// medians over the runs of the output (-count), so the page holds no
// typed figure.
package micro

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// An Output is one `go test -bench` output: the command that made it and
// every value each benchmark reported.
type Output struct {
	Command string // from its first line, "$ command"
	CPU     string // go test's "cpu:" line
	// values[benchmark][unit] lists what each run reported; benchmark is
	// the name without "Benchmark" and the -GOMAXPROCS suffix, such as
	// "ViewSearch/views=10000".
	values map[string]map[string][]float64
}

// Parse reads a `go test -bench` output whose first line may give the
// command as "$ command".
func Parse(r io.Reader) (*Output, error) {
	o := &Output{values: map[string]map[string][]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			first = false
			if c, ok := strings.CutPrefix(line, "$ "); ok {
				o.Command = strings.TrimSpace(c)
				continue
			}
		}
		if cpu, ok := strings.CutPrefix(line, "cpu: "); ok {
			o.CPU = strings.TrimSpace(cpu)
			continue
		}
		name, rest, ok := strings.Cut(line, "\t")
		if !ok || !strings.HasPrefix(name, "Benchmark") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 3 || len(f)%2 == 0 {
			continue // not a result line (a log line of a benchmark, say)
		}
		if _, err := strconv.Atoi(f[0]); err != nil {
			continue
		}
		name = strings.TrimPrefix(strings.TrimSpace(name), "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		m := o.values[name]
		if m == nil {
			m = map[string][]float64{}
			o.values[name] = m
		}
		for i := 1; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark %s: %q is not a number: %w", name, f[i], err)
			}
			m[f[i+1]] = append(m[f[i+1]], v)
		}
	}
	return o, sc.Err()
}

// Median returns the median of what benchmark reported in unit over its
// runs, and whether it reported any.
func (o *Output) Median(benchmark, unit string) (float64, bool) {
	if o == nil {
		return 0, false
	}
	vs := slices.Clone(o.values[benchmark][unit])
	if len(vs) == 0 {
		return 0, false
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2], true
	}
	return (vs[n/2-1] + vs[n/2]) / 2, true
}

// Runs returns how many runs of benchmark the output holds.
func (o *Output) Runs(benchmark string) int {
	if o == nil {
		return 0
	}
	return len(o.values[benchmark]["ns/op"])
}

// Outputs are the outputs of a directory, by file name without ".txt".
type Outputs map[string]*Output

// ReadDir reads every *.txt file of dir; a missing dir gives no outputs.
func ReadDir(dir string) (Outputs, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	outs := Outputs{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		o, err := Parse(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		outs[strings.TrimSuffix(filepath.Base(f), ".txt")] = o
	}
	return outs, nil
}

// Begin and End return the markers around table name on the page.
func Begin(name string) string { return "<!-- bench:" + name + ":begin -->" }

// End: see Begin.
func End(name string) string { return "<!-- bench:" + name + ":end -->" }

// WriteDocs renders every table of Tables from outs, from files under dir
// (a path shown on the page), into the page at path between each table's
// markers. A table whose markers the page lacks is an error; one whose
// output is missing says how to measure it.
func WriteDocs(path string, outs Outputs, dir string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, t := range Tables {
		doc, err = Splice(doc, t.Name, t.Render(outs[t.File], filepath.ToSlash(filepath.Join(dir, t.File+".txt"))))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	return os.WriteFile(path, doc, 0o644)
}

// Splice returns doc with what lies between the markers of table name
// replaced by md.
func Splice(doc []byte, name, md string) ([]byte, error) {
	b, e := []byte(Begin(name)), []byte(End(name))
	i, j := bytes.Index(doc, b), bytes.Index(doc, e)
	if i < 0 || j < i {
		return nil, errors.New("no " + Begin(name) + " ... " + End(name) + " section")
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(b)])
	out.WriteString("\n")
	out.WriteString(strings.TrimSpace(md))
	out.WriteString("\n")
	out.Write(doc[j:])
	return out.Bytes(), nil
}
