// Package standalone checks that the repository stands on its own: no tracked file reads or
// cites a path outside it, so a fresh `git clone` in an empty folder has everything its tests,
// code and documents refer to.
package standalone

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// up is "../" built from pieces, so that this file does not itself contain what it looks for.
const (
	up     = ".." + "/"
	dotdot = "." + "."
)

// outsideMarkers are names of things that live beside the repository, never in it: the old
// location of the design document and of the header fixture.
var outsideMarkers = []string{up + "shared", "shared" + "/fixtures"}

// climb is a run of parent steps ("../", or "..\" on Windows) that starts a relative path: it
// follows the start of a line or a character that cannot be part of a path.
var climb = regexp.MustCompile(`(?:^|[^\w./\\-])((?:\.\.[/\\])+)`)

// joinUp is a path joined from a directory and a parent step (filepath.Join with a ".."
// element): the scan cannot tell where the directory is, so such a path must be written as a
// relative literal instead.
var joinUp = regexp.MustCompile(`\b(?:filepath|path)\.Join\([^)]*"\.\."`)

func TestNoPathOutsideRepository(t *testing.T) {
	root := repoRoot(t)
	files := trackedFiles(t, root)
	if len(files) < 20 {
		t.Fatalf("found only %d files under %s: the scan would prove nothing", len(files), root)
	}
	var found []string
	for _, name := range files {
		data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted in the working tree but still in the index
		}
		if err != nil {
			t.Fatalf("read %s: %v", name, err)
		}
		found = append(found, outsideRefs(name, data)...)
	}
	if len(found) > 0 {
		t.Errorf("%d reference(s) to paths outside the repository (a fresh clone does not have them):\n%s",
			len(found), strings.Join(found, "\n"))
	}
}

// TestOutsideRefs shows what the scan catches and what it lets through.
func TestOutsideRefs(t *testing.T) {
	tests := []struct {
		file, line string
		bad        bool
	}{
		{"README.md", "the design is in `" + up + "shared/DESIGN.md`.", true},
		{"docs/design.md", "see [the design](" + up + up + "x.md)", true},
		{"tests/sheetsemu/grid.go", `// read from shared` + `/fixtures beside the module`, true},
		{"tests/x_test.go", `os.ReadFile("` + up + up + `etc/passwd")`, true},
		{"tests/x_test.go", "filepath.Join(root, \"" + dotdot + "\", \"docs\")", true},
		{"a/b/c.go", `p := "` + up + up + up + `outside"`, true},
		{"a/b/c.go", `p := "` + strings.Repeat(dotdot+`\`, 3) + `outside"`, true},
		{"tests/harness_test.go", `exec.Command("go", "build", "` + up + `cmd/reconciler")`, false},
		{"a/b/c.go", `p := "` + up + up + `docs/monitor.png"`, false},
		{"README.md", "see [the design](docs/design.md); cd \"$(dirname \"$0\")/..\"", false},
		{"scripts/test", `cd "$(dirname "$0")/.."`, false},
		{"jobs/x.go", "func f(args ...string) { g(args...) } // and so on...", false},
		{"jobs/x.go", "a shared connection; fixtures in testdata/", false},
		{"README.md", "tests/" + up + "README.md", false}, // inside a path: not a leading climb
	}
	for _, tt := range tests {
		got := outsideRefs(tt.file, []byte(tt.line+"\n"))
		if bad := len(got) > 0; bad != tt.bad {
			t.Errorf("outsideRefs(%s, %q) = %q, want a finding: %v", tt.file, tt.line, got, tt.bad)
		}
	}
}

// outsideRefs lists the lines of one file (its slash-separated path from the repository root)
// that name a place outside the repository. Binary files are skipped.
func outsideRefs(name string, data []byte) []string {
	if bytes.IndexByte(data[:min(len(data), 8000)], 0) >= 0 {
		return nil
	}
	depth := strings.Count(name, "/") // how many "../" steps still stay inside the repository
	var found []string
	for i, line := range strings.Split(string(data), "\n") {
		var whys []string
		report := func(why string) { whys = append(whys, why) }
		for _, m := range outsideMarkers {
			if strings.Contains(line, m) {
				report(fmt.Sprintf("names %q", m))
			}
		}
		for _, m := range climb.FindAllStringSubmatch(line, -1) {
			if steps := strings.Count(m[1], ".."); steps > depth {
				report(fmt.Sprintf("climbs %d level(s) from %s, above the repository root", steps, filepath.Dir(name)))
			}
		}
		if strings.HasSuffix(name, ".go") && joinUp.MatchString(line) {
			report(`joins ".." onto a path`)
		}
		if len(whys) > 0 {
			found = append(found, fmt.Sprintf("%s:%d: %s: %s", name, i+1, strings.Join(whys, "; "), strings.TrimSpace(line)))
		}
	}
	return found
}

// repoRoot is the folder that holds go.mod, found upwards from the package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the package directory")
		}
		dir = parent
	}
}

// trackedFiles are the files git tracks (slash-separated, relative to root); outside a git
// checkout (an exported tree), every file below root except .git.
func trackedFiles(t *testing.T, root string) []string {
	t.Helper()
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err == nil {
		return strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	}
	t.Logf("git ls-files: %v; walking the tree instead", err)
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	return files
}
