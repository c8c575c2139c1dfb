package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/s3templates"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
	"github.com/ssr-mfe/composer/composer/template"
)

// commands are the subcommands, composer NAME ARGS..., in the order
// composer -h lists them. Each answers -h with its usage.
var commands = []struct {
	name, summary string // summary: one line for composer -h
	run           func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error
}{
	{"validate", "check a folder of templates (and a registry file) as the server would", func(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
		return validate(args, stdout, stderr)
	}},
	{"publish", "validate a folder of templates, then upload it to S3", publish},
	{"register", "validate registry entries, then write them to Parameter Store", register},
	{"override", "sign a token that points fragments at a team's preview for the requests that carry it", overrideCommand},
	{"healthcheck", "exit 0 when a running composer is alive: its /healthz (for container health checks)", healthcheck},
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

// plural is n and word, with an s unless n is 1: "1 route", "2 routes".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// cliLogger is the log of a subcommand: warnings and errors only, as text.
func cliLogger(stderr io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// publish validates a folder of templates and, only if it is valid,
// uploads it to S3 with routes.json last.
func publish(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("composer publish", flag.ContinueOnError)
	fs.SetOutput(stderr)
	createBucket := fs.Bool("create-bucket", false, "create the bucket first if it does not exist (local stacks)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer publish [-create-bucket] DIR s3://bucket/prefix/\n\nValidates the templates and routes.json in DIR and, only if all is well,\nuploads them (routes.json last). Uses the standard AWS environment.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil // -h
	}
	switch len(pos) {
	case 0:
		return errors.New("publish: missing DIR and s3://bucket/prefix/; see composer publish -h")
	case 1:
		return fmt.Errorf("publish: missing the s3:// location after %q; see composer publish -h", pos[0])
	case 2:
	default:
		return fmt.Errorf("publish: unexpected argument %q after DIR and s3://bucket/prefix/; see composer publish -h", pos[2])
	}
	dir, uri := pos[0], pos[1]
	loc, err := s3templates.ParseURI(uri)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("publish: %q is not a folder", dir)
	}
	files, err := readFolder(dir)
	if err == nil {
		_, err = template.BuildSet(files)
	}
	if err != nil {
		var errs template.Errors
		if !errors.As(err, &errs) {
			return fmt.Errorf("publish: %w; nothing was uploaded", err)
		}
		for _, e := range errs {
			e.File = filepath.Join(dir, e.File)
			fmt.Fprintln(stdout, e.Error())
		}
		return fmt.Errorf("publish: %s is not valid; nothing was uploaded", dir)
	}
	clients, err := loadAWS(ctx, getenv, cliLogger(stderr))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if *createBucket {
		if err := s3templates.EnsureBucket(ctx, clients.s3, loc.Bucket); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	written, err := s3templates.Publish(ctx, clients.s3, loc, files)
	for _, key := range written {
		fmt.Fprintf(stdout, "uploaded s3://%s/%s\n", loc.Bucket, key)
	}
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(stdout, "published %d files to %s\n", len(written), loc)
	return nil
}

// register validates a registry entry and writes it to SSM.
func register(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("composer register", flag.ContinueOnError)
	fs.SetOutput(stderr)
	prefix := fs.String("prefix", ssmregistry.DefaultPrefix, "SSM parameter prefix of the registry")
	file := fs.String("file", "", "register every entry of a registry JSON file instead of one ID and entry")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer register [-prefix /ssr-mfe/] ID ENDPOINT_OR_JSON\n       composer register [-prefix /ssr-mfe/] -file registry.json\n\nValidates the entries and writes each to SSM as <prefix><ID> (overwriting).\nUses the standard AWS environment.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil // -h
	}
	var entries [][2]string
	switch {
	case *file != "" && len(pos) == 0:
		raws, problems := registryProblems(*file)
		if len(problems) > 0 { // all valid, or nothing written
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			return fmt.Errorf("register: %w; nothing was written", problemsError(map[string][]string{*file: problems}))
		}
		for _, r := range raws {
			entries = append(entries, [2]string{r.ID, string(r.Data)})
		}
	case *file == "" && len(pos) == 2:
		entries = append(entries, [2]string{pos[0], pos[1]})
	case *file != "":
		return fmt.Errorf("register: unexpected argument %q with -file; see composer register -h", pos[0])
	case len(pos) == 0:
		return errors.New("register: missing ID and ENDPOINT_OR_JSON (or -file); see composer register -h")
	case len(pos) == 1:
		return fmt.Errorf("register: missing ENDPOINT_OR_JSON after the id %q; see composer register -h", pos[0])
	default:
		return fmt.Errorf("register: unexpected argument %q after ID and ENDPOINT_OR_JSON; see composer register -h", pos[2])
	}
	if err := ssmregistry.CheckPrefix(*prefix); err != nil {
		return fmt.Errorf("register: -prefix: %w", err)
	}
	var badIDs []error
	for _, e := range entries {
		if err := ssmregistry.CheckID(e[0]); err != nil {
			badIDs = append(badIDs, err)
		}
	}
	if len(badIDs) > 0 { // all valid, or nothing written
		return fmt.Errorf("register: %w; nothing was written", errors.Join(badIDs...))
	}
	clients, err := loadAWS(ctx, getenv, cliLogger(stderr))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var written []string
	var regErr error
	for _, e := range entries {
		name, err := ssmregistry.Register(ctx, clients.ssm, *prefix, e[0], e[1])
		if err != nil {
			regErr = fmt.Errorf("register: %w", err)
			break
		}
		written = append(written, e[0])
		fmt.Fprintf(stdout, "registered %s\n", name)
	}
	// One bump for all that was written (even if a later entry failed), so
	// that composers read the registry at their next refresh.
	if len(written) > 0 {
		what := "register " + strings.Join(written, " ")
		if err := ssmregistry.Bump(ctx, clients.ssm, *prefix, what); err != nil {
			return errors.Join(regErr, fmt.Errorf("register: %d entries written, but composers may take up to their COMPOSER_REGISTRY_FULL_REFRESH to read them: %w", len(written), err))
		}
		fmt.Fprintf(stdout, "bumped %s\n", ssmregistry.MarkerName(*prefix))
	}
	return regErr
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, and returns the positional ones; nil after -h.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
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

// healthcheck asks a running composer's /healthz, for container health
// checks in images without curl: exit 0 when it is alive. (Readiness,
// /readyz, is for the load balancer: a task that loaded nothing yet must
// not be restarted for it.)
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("composer healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer healthcheck [URL]\n\nAsks a running composer whether it is alive and exits 0 if it answers 200.\nURL defaults to /healthz at COMPOSER_ADDR (:8080), on 127.0.0.1 when its host is empty or 0.0.0.0.\n")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil // -h
	}
	if len(pos) > 1 {
		fs.Usage()
		return errors.New("healthcheck: want at most one URL")
	}
	var url string
	if len(pos) > 0 {
		url = pos[0]
	} else if url, err = livenessURL(getenv("COMPOSER_ADDR")); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", url, resp.StatusCode)
	}
	return nil
}

// livenessURL is /healthz at the listen address addr (COMPOSER_ADDR, or
// its default): a listener on every interface is asked on loopback.
func livenessURL(addr string) (string, error) {
	if addr == "" {
		addr = ":8080"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("COMPOSER_ADDR=%q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
