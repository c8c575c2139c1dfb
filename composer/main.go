// Command composer serves pages composed from micro-frontends.
//
//	composer                      serve (the embedded demo when unconfigured)
//	composer SUBCOMMAND ...       dev, validate, publish, register, healthcheck
//	composer -h                   every subcommand and setting
//
// Everything is wired in run; the settings are read in composer/settings,
// the sources in composer/sources, the dev server in composer/dev, and
// each subcommand lives in composer/command/NAME.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "composer:", err)
		stop()
		os.Exit(1)
	}
}
