package buildinfo

import (
	"runtime"
	"strings"
	"testing"
)

// A test binary has no module version: Describe names the program, says
// "(devel)" and ends with the Go version.
func TestDescribe(t *testing.T) {
	got := Describe("pushmap")
	if !strings.HasPrefix(got, "pushmap (devel)") || !strings.HasSuffix(got, " "+runtime.Version()) {
		t.Fatalf("Describe = %q, want \"pushmap (devel) [revision] %s\"", got, runtime.Version())
	}
}
