// Command reconciler keeps Redis spool locks equal to what the Operaciones sheet says.
//
//	reconciler [worker]                       run the worker (the default)
//	reconciler enqueue [--spool TAG]... [--dry-run] [--wait] [--json]
//	reconciler plan [--json]                  exit 0 in sync, 3 drift (a suspect sheet too), 1 error, 2 usage
//	reconciler accept-sheet [--yes] [--json]  show what the current sheet would do; --yes accepts it
//	reconciler explain TAG [--json]           why a spool is locked or free; exit 0, 3, 1, 2
//	reconciler history [--spool TAG] [--since 1h] [--json]
//	reconciler version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	_ "time/tzdata" // TIMEZONE works on images without tz data
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the module's.
var version = ""

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	exitDrift = 3
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "worker"
	switch {
	case len(args) > 0 && isHelpFlag(args[0]):
		cmd = "help" // the program's help, not the worker's flags: list the subcommands
	case len(args) > 0 && args[0] != "" && args[0][0] != '-':
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "worker":
		return runWorker(ctx, args, getenv, stdout, stderr)
	case "enqueue":
		return runEnqueue(ctx, args, getenv, stdout, stderr)
	case "plan":
		return runPlan(ctx, args, getenv, stdout, stderr)
	case "accept-sheet":
		return runAcceptSheet(ctx, args, getenv, stdout, stderr)
	case "explain":
		return runExplain(ctx, args, getenv, stdout, stderr)
	case "history":
		return runHistory(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "reconciler", buildVersion())
		return exitOK
	case "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "reconciler: unknown command %q\n\n%s", cmd, usage)
	return exitUsage
}

// isHelpFlag is what the flag package treats as a request for help.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "--h":
		return true
	}
	return false
}

const usage = `usage:
  reconciler [worker] [--redis-url URL] [--sheet-csv FILE] [--port N]
  reconciler enqueue [--spool TAG]... [--dry-run] [--wait] [--json] [--timeout 5m] [--redis-url URL]
  reconciler plan [--json] [--redis-url URL] [--sheet-csv FILE]
      what a reconcile would do; writes nothing. Exit 0 in sync, 3 drift (a suspect sheet too), 1 error
  reconciler accept-sheet [--yes] [--json] [--redis-url URL] [--sheet-csv FILE]
      every run judges its snapshot as a whole: one that lost more than half of the accepted
      occupations (and more than 5), or shows none while locks exist and nothing is accepted,
      is suspect and nothing is written (log "sheet suspect", /readyz, reconciler_sheet_suspect).
      accept-sheet shows what the current sheet would restore, retract and release; with --yes
      it makes it the accepted snapshot (after a real mass change) and the next run acts.
  reconciler explain TAG [--json] [--redis-url URL] [--sheet-csv FILE]
      why a spool is locked or free, what happens next, and its history; writes nothing.
      Exit 0 in sync, free or unknown, 3 drift, 1 error
  reconciler history [--spool TAG] [--since 1h] [--limit N] [--json] [--redis-url URL]
      every restore, deletion, refusal and hold the workers made, newest first
  reconciler version
On day one the worker releases every orphan lock past ORPHAN_GRACE, however many.
Configuration comes from the environment (see README.md); flags override it.
`

// commonFlags are the flags every subcommand that talks to Redis or the sheet accepts; each
// overrides its environment variable.
type commonFlags struct {
	redisURL, sheetCSV string
	port               int
}

func (c *commonFlags) register(fs *flag.FlagSet, sheet, port bool) {
	fs.StringVar(&c.redisURL, "redis-url", "", "overrides REDIS_URL")
	if sheet {
		fs.StringVar(&c.sheetCSV, "sheet-csv", "", "overrides SHEET_CSV")
	}
	if port {
		fs.IntVar(&c.port, "port", 0, "overrides PORT")
	}
}

// getenv layers the flags over the environment.
func (c *commonFlags) getenv(base func(string) string) func(string) string {
	return func(name string) string {
		switch {
		case name == "REDIS_URL" && c.redisURL != "":
			return c.redisURL
		case name == "SHEET_CSV" && c.sheetCSV != "":
			return c.sheetCSV
		case name == "PORT" && c.port != 0:
			return fmt.Sprint(c.port)
		}
		return base(name)
	}
}

// parseFlags parses and reports usage errors the same way for every subcommand.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "reconciler %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, false
	}
	return 0, true
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
		if info.Main.Version != "" {
			return info.Main.Version
		}
	}
	return "dev"
}
