package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ssr-mfe/composer/composer/command/healthcheck"
	"github.com/ssr-mfe/composer/composer/command/override"
	"github.com/ssr-mfe/composer/composer/command/publish"
	"github.com/ssr-mfe/composer/composer/command/register"
	"github.com/ssr-mfe/composer/composer/command/validate"
	"github.com/ssr-mfe/composer/composer/dev"
)

// subcommand is one entry of the table: composer NAME ARGS... runs run.
type subcommand struct {
	name, summary string // summary: one line for composer -h
	run           func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}

// commands are the subcommands, composer NAME ARGS..., in the order
// composer -h lists them. Each answers -h with its usage.
var commands = []subcommand{
	{"validate", "check a folder of templates (and a registry file) as the server would", validate.Run},
	{"publish", "validate a folder of templates, then upload it to S3", publish.Run},
	{"register", "validate registry entries, then write them to Parameter Store", register.Run},
	{"override", "sign a token that points fragments at a team's preview for the requests that carry it", override.Run},
	{"healthcheck", "exit 0 when a running composer is alive: its /healthz (for container health checks)", healthcheck.Run},
}

// dev serves, so it is added here: its usage lists the subcommands, which
// a literal entry could not refer to.
func init() {
	commands = append(commands, subcommand{"dev", "serve a local folder on loopback, publish each save, reload the open pages", runDev})
}

// runDev runs `composer dev`: the server with the dev mode's settings.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := dev.Settings(args, getenv, stdout, stderr, commandsUsage)
	if err != nil || cfg == nil {
		return err
	}
	return serve(ctx, cfg, getenv, stderr)
}

// commandsUsage is the list of subcommands in composer -h.
func commandsUsage(w io.Writer) {
	fmt.Fprintf(w, "subcommands (composer SUBCOMMAND -h for more):\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
}

// unknownCommand is the error for composer NAME when NAME is no
// subcommand.
func unknownCommand(name string) error {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
	}
	return fmt.Errorf("unknown subcommand %q; the subcommands are %s (composer -h for more)", name, strings.Join(names, ", "))
}
