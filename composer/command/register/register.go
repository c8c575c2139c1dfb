// Package register is composer register: registry entries, validated,
// then written to Parameter Store with one bump of the change marker.
package register

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/awsclient"
	"github.com/ssr-mfe/composer/composer/command"
	"github.com/ssr-mfe/composer/composer/sources"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
)

// Run validates a registry entry and writes it to SSM.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := command.Flags("composer register", "usage: composer register [-prefix /ssr-mfe/] ID ENDPOINT_OR_JSON\n       composer register [-prefix /ssr-mfe/] -file registry.json\n\nValidates the entries and writes each to SSM as <prefix><ID> (overwriting).\nUses the standard AWS environment.\n\n", stderr)
	prefix := fs.String("prefix", ssmregistry.DefaultPrefix, "SSM parameter prefix of the registry")
	file := fs.String("file", "", "register every entry of a registry JSON file instead of one ID and entry")
	pos, err := command.Args(fs, args)
	if err != nil {
		return err
	}
	if pos == nil {
		return nil // -h
	}
	var entries [][2]string
	switch {
	case *file != "" && len(pos) == 0:
		raws, problems := sources.RegistryProblems(*file)
		if len(problems) > 0 { // all valid, or nothing written
			for _, p := range problems {
				fmt.Fprintln(stdout, p)
			}
			return fmt.Errorf("register: %w; nothing was written", sources.ProblemsError(map[string][]string{*file: problems}))
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
	clients, err := awsclient.Load(ctx, getenv, command.Logger(stderr))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var written []string
	var regErr error
	for _, e := range entries {
		name, err := ssmregistry.Register(ctx, clients.SSM, *prefix, e[0], e[1])
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
		if err := ssmregistry.Bump(ctx, clients.SSM, *prefix, what); err != nil {
			return errors.Join(regErr, fmt.Errorf("register: %d entries written, but composers may take up to their COMPOSER_REGISTRY_FULL_REFRESH to read them: %w", len(written), err))
		}
		fmt.Fprintf(stdout, "bumped %s\n", ssmregistry.MarkerName(*prefix))
	}
	return regErr
}
