package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// validate checks a folder of templates (and, with -registry, that every
// fragment id resolves) and prints one "file:line: message" per problem.
// Fragment teams run it in their pipelines before they publish.
func validate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("composer validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	regFile := fs.String("registry", "", "registry JSON file: also check that every fragment id is registered")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer validate [-registry FILE] DIR\n\nChecks the templates and routes.json in DIR; prints file:line: message for each problem.\n\n")
		fs.PrintDefaults()
	}
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

	var problems []string
	set, err := template.LoadSet(os.DirFS(dir))
	if err != nil {
		var errs template.Errors
		if !errors.As(err, &errs) {
			return err
		}
		for _, e := range errs {
			e.File = filepath.Join(dir, e.File)
			problems = append(problems, e.Error())
		}
	}
	if *regFile != "" {
		problems = append(problems, checkRegistry(dir, set, *regFile)...)
	}
	for _, p := range problems {
		fmt.Fprintln(stdout, p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("validate: %d problem(s) in %s", len(problems), dir)
	}
	fmt.Fprintf(stdout, "ok: %d templates, %d routes\n", len(set.Templates), len(set.Routes))
	return nil
}

// checkRegistry reports bad entries and template fragments with no entry.
func checkRegistry(dir string, set *template.Set, file string) []string {
	raws, err := registry.ReadFile(file)
	if err != nil {
		return []string{err.Error()}
	}
	reg := registry.New(nil)
	var problems []string
	for _, e := range reg.Update(raws) {
		problems = append(problems, fmt.Sprintf("%s: entry %q: %v", file, e.ID, e.Err))
	}
	if set == nil {
		return problems
	}
	names := make([]string, 0, len(set.Templates))
	for n := range set.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	known := map[string]bool{}
	for _, r := range raws {
		known[r.ID] = true
	}
	for _, n := range names {
		for _, f := range set.Templates[n].Slots {
			if !known[f.ID] {
				problems = append(problems, fmt.Sprintf("%s:%d: fragment %q is not in the registry %s", filepath.Join(dir, n), f.Line, f.ID, file))
			}
		}
	}
	return problems
}
