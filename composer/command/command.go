// Package command holds what the subcommands (composer validate, publish,
// register, override, healthcheck: each a package below this one) share:
// their flag parsing and their log. A subcommand may use the settings and
// the sources; neither ever uses a subcommand.
package command

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
)

// Flags is the flag set of the subcommand name ("composer validate"):
// errors and -h go to stderr, and its usage is usage followed by the
// flags' defaults.
func Flags(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	return fs
}

// Args parses flags that may come before or after the
// positional arguments, and returns the positional ones; nil after -h.
func Args(fs *flag.FlagSet, args []string) ([]string, error) {
	pos := []string{}
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, nil
			}
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// Logger is the log of a subcommand: warnings and errors only, as text.
func Logger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Plural is n and word, with an s unless n is 1: "1 route", "2 routes".
func Plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
