package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelpListsSubcommands: `reconciler help`, `-h` and `--help` all print the subcommands and
// exit 0; none of them starts the worker (which would need REDIS_URL and never return here).
func TestHelpListsSubcommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"-help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			getenv := func(string) string { return "" }
			if code := run(args, getenv, &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d, want %d; stderr: %s", code, exitOK, stderr.String())
			}
			if stdout.String() != usage {
				t.Errorf("stdout = %q, want the usage text", stdout.String())
			}
			for _, sub := range []string{"reconciler [worker]", "reconciler enqueue", "reconciler plan", "reconciler accept-sheet", "reconciler version"} {
				if !strings.Contains(stdout.String(), sub) {
					t.Errorf("help lacks %q:\n%s", sub, stdout.String())
				}
			}
			if stderr.Len() > 0 {
				t.Errorf("stderr = %q, want nothing", stderr.String())
			}
		})
	}
}
