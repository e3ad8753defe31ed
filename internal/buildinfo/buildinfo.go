// Package buildinfo describes the running binary for `pushmap version` and
// the benchmark's results: which build measured or served what.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Describe returns "program version revision goversion": the main module's
// version ("(devel)" for a build from a work tree), the VCS revision's
// first 12 digits when known (with "+modified" for a dirty tree), and the
// Go version, for example "pushmap (devel) 0379684a1b2c go1.26.0".
func Describe(program string) string {
	v, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		var modified bool
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified {
			rev += "+modified"
		}
	}
	s := program + " " + v
	if rev != "" {
		s += " " + rev
	}
	return s + " " + runtime.Version()
}
