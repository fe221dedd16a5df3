package worker

import (
	"go/ast"
	"go/build"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestWorkerKnowsNoAdapter: worker, and everything of this module it imports, reaches Redis's
// records and the sheet through interfaces; cmd wires the adapters in.
func TestWorkerKnowsNoAdapter(t *testing.T) {
	seen := map[string]bool{}
	var walk func(path, from string)
	walk = func(path, from string) {
		if seen[path] || !strings.HasPrefix(path, "reconciler/") {
			return
		}
		seen[path] = true
		if strings.HasPrefix(path, "reconciler/adapters/") {
			t.Errorf("%s imports %s", from, path)
			return
		}
		pkg, err := build.Import(path, ".", 0)
		if err != nil {
			t.Fatalf("import %s: %v", path, err)
		}
		for _, imp := range pkg.Imports {
			walk(imp, path)
		}
	}
	walk("reconciler/worker", "")
	if len(seen) < 3 {
		t.Fatalf("walked only %v: is the module still named reconciler?", seen)
	}
}

// TestReconcilerKeysNamedInRedislock: every `reconciler:*` key the program uses is spelled in
// adapters/redislock, so one package says what the reconciler keeps in Redis.
func TestReconcilerKeysNamedInRedislock(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") || rel == "tests" {
				return fs.SkipDir // tests/ checks keys from outside, as an operator would
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		file, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			name, isKey := strings.CutPrefix(s, "reconciler:")
			if err != nil || !isKey || name == "" || strings.Contains(s, " ") {
				return true // not a key: "reconciler:" starts the CLI's error lines
			}
			found++
			if filepath.Dir(rel) != filepath.Join("adapters", "redislock") {
				t.Errorf("%s spells the key %q: name it in adapters/redislock", rel, s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no reconciler:* key found anywhere: the scan is broken")
	}
}
