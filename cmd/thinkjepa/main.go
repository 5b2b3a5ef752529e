// Command thinkjepa is the single entry point of the project: data preparation,
// encoding, training, forecasting, evaluation and benchmarks are its subcommands.
//
// Each subcommand lives in its own file (cmd_*.go) and registers itself in init with
// register; this file only dispatches. No model maths belongs in this package.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. Names may have two words ("data inspect").
type command struct {
	name    string
	summary string
	usage   string // argument synopsis after the name, e.g. "[flags] EPISODE"
	// flags declares the subcommand's flags on fs and returns the function to run with
	// the remaining positional arguments.
	setup func(fs *flag.FlagSet) func(args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("duplicate command " + c.name)
	}
	commands[c.name] = c
}

// errUsage makes main print the subcommand's usage after the message.
var errUsage = errors.New("usage")

func usageErrorf(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	level := slog.LevelInfo
	if os.Getenv("THINKJEPA_DEBUG") != "" {
		level = slog.LevelDebug
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
	if len(args) == 0 {
		printOverview(stderr)
		return 2
	}
	c, rest := lookup(args)
	if c == nil {
		fmt.Fprintf(stderr, "thinkjepa: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		printOverview(stderr)
		return 2
	}
	fs := flag.NewFlagSet("thinkjepa "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { printCommandHelp(stderr, c, fs) }
	runFn := c.setup(fs)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := runFn(pos); err != nil {
		// One line per failure, so that scripts and logs keep it whole (joined errors,
		// e.g. a config's list of problems, carry newlines).
		msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), "usage: "), "\n", "; ")
		fmt.Fprintf(stderr, "thinkjepa %s: %s\n", c.name, msg)
		if errors.Is(err, errUsage) {
			fmt.Fprintln(stderr)
			printCommandHelp(stderr, c, fs)
			return 2
		}
		return 1
	}
	return 0
}

// parseInterspersed parses fs's flags wherever they stand among args and returns the
// positional arguments in order, so "data clip EPISODE --out x.npz" works like
// "data clip --out x.npz EPISODE". The standard flag package stops at the first
// positional argument; this splits args first, using fs to know which flags take a
// value (a flag's value is never read as a positional, "-out -x" sets out to "-x", as the
// flag package does). "--" ends the flags: everything after it is positional, even when
// it starts with "-". A lone "-" is positional (stdin by convention).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			pos = append(pos, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		if hasValue || i+1 == len(args) {
			continue
		}
		// An unknown flag is left for Parse to report; a boolean flag takes no separate
		// value ("-overwrite false" is a flag and a positional, as in package flag).
		if f := fs.Lookup(name); f != nil && !isBoolFlag(f) {
			i++
			flags = append(flags, args[i])
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, err
	}
	// flags holds only flags and their values, so Parse consumes all of it; anything it
	// left would be a positional it did not expect, kept rather than dropped.
	return append(fs.Args(), pos...), nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// lookup finds the longest registered name matching the leading arguments.
func lookup(args []string) (*command, []string) {
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c, args[2:]
		}
	}
	if c, ok := commands[args[0]]; ok {
		return c, args[1:]
	}
	return nil, nil
}

func printOverview(w io.Writer) {
	fmt.Fprintln(w, "thinkjepa: ThinkJEPA — VLM-guided latent world model for 3D hand trajectory forecasting")
	fmt.Fprintln(w, "\nUsage: thinkjepa COMMAND [flags] [args]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'thinkjepa help COMMAND' for a command's flags.")
}

func printCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: thinkjepa %s %s\n\n%s\n", c.name, c.usage, c.summary)
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintln(w, "\nFlags:")
		fs.PrintDefaults()
	}
}

func init() {
	register(&command{
		name:    "help",
		summary: "show the commands, or one command's flags",
		usage:   "[COMMAND]",
		setup: func(fs *flag.FlagSet) func([]string) error {
			return func(args []string) error {
				if len(args) == 0 {
					printOverview(fs.Output())
					return nil
				}
				c, _ := lookup(args)
				if c == nil {
					return usageErrorf("unknown command %q", strings.Join(args, " "))
				}
				sub := flag.NewFlagSet("thinkjepa "+c.name, flag.ContinueOnError)
				sub.SetOutput(fs.Output())
				c.setup(sub)
				printCommandHelp(fs.Output(), c, sub)
				return nil
			}
		},
	})
}
