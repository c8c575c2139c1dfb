// Package validate is composer validate: a folder of templates (and a
// registry file) checked as the server would, one file:line: message per
// problem.
package validate

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ssr-mfe/composer/composer/command"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/sources"
)

// Run checks a folder of templates (and, with -registry, a registry
// file and that every fragment id resolves) and prints one
// "file:line[:col]: message" per problem. Fragment teams run it in their
// pipelines before they publish; the server runs the same checks on a
// local folder and registry file at start-up.
func Run(_ context.Context, args []string, _ func(string) string, stdout, stderr io.Writer) error {
	fs := command.Flags("composer validate", "usage: composer validate [-registry FILE] DIR\n\nChecks the templates and routes.json in DIR; prints file:line: message for each problem.\n\n", stderr)
	regFile := fs.String("registry", "", "registry JSON file: check its entries, and that every fragment id is registered")
	// Accept the flag after the folder too: "validate templates -registry r.json".
	var dir string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if dir != "" {
			return fmt.Errorf("validate takes one folder; got %q and %q", dir, args[0])
		}
		dir, args = args[0], args[1:]
	}
	if dir == "" {
		fs.Usage()
		return errors.New("validate: name the folder of templates")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("validate: %q is not a folder", dir)
	}

	set, slots, tplProblems, err := sources.TemplateProblems(dir)
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	var regProblems []string
	var raws []registry.Raw
	if *regFile != "" {
		raws, regProblems = sources.RegistryProblems(*regFile)
		tplProblems = append(tplProblems, sources.CheckFragments(dir, slots, raws, *regFile)...)
	}
	for _, p := range append(tplProblems, regProblems...) {
		fmt.Fprintln(stdout, p)
	}
	if *regFile != "" && raws == nil && len(slots) > 0 {
		// Said, so that the next run's unknown ids are no surprise.
		fmt.Fprintf(stdout, "%s: note: the templates' fragment ids were not checked against it: it does not read as a registry\n", *regFile)
	}
	for _, n := range trustNotes(raws) {
		fmt.Fprintln(stdout, n)
	}
	byPlace := map[string][]string{dir: tplProblems}
	byPlace[*regFile] = append(byPlace[*regFile], regProblems...) // the same path for both counts both
	if err := sources.ProblemsError(byPlace); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %s, %s\n", command.Plural(len(set.Templates), "template"), command.Plural(len(set.Routes), "route"))
	return nil
}

// trustNotes names the entries that trust their fragment's scripts
// ("trustScripts": true): in their markup an injected script runs too, so
// a reviewer should know each one. They are notes, not problems.
func trustNotes(raws []registry.Raw) []string {
	var notes []string
	for _, r := range raws {
		e, err := registry.ParseEntry(r.Data)
		if err != nil || !e.TrustScripts {
			continue
		}
		where := r.From
		if r.File != "" {
			where = fmt.Sprintf("%s:%d", r.File, r.Line)
		}
		notes = append(notes, fmt.Sprintf("%s: note: entry %q trusts its scripts (trustScripts): every script in its markup runs, one injected from a visitor's input too; prefer a nonce or hashes in its Content-Security-Policy", where, r.ID))
	}
	return notes
}
