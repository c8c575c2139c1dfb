package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// validate checks a folder of templates (and, with -registry, a registry
// file and that every fragment id resolves) and prints one
// "file:line[:col]: message" per problem. Fragment teams run it in their
// pipelines before they publish; the server runs the same checks on a
// local folder and registry file at start-up.
func validate(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("composer validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	regFile := fs.String("registry", "", "registry JSON file: check its entries, and that every fragment id is registered")
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

	set, tplProblems, err := templateProblems(dir)
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	var regProblems []string
	if *regFile != "" {
		var raws []registry.Raw
		raws, regProblems = registryProblems(*regFile)
		tplProblems = append(tplProblems, checkFragments(dir, set, raws, *regFile)...)
	}
	for _, p := range append(tplProblems, regProblems...) {
		fmt.Fprintln(stdout, p)
	}
	if *regFile != "" {
		raws, _ := registry.ReadFile(*regFile)
		for _, n := range trustNotes(raws) {
			fmt.Fprintln(stdout, n)
		}
	}
	byPlace := map[string][]string{dir: tplProblems}
	byPlace[*regFile] = append(byPlace[*regFile], regProblems...) // the same path for both counts both
	if err := problemsError(byPlace); err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	fmt.Fprintf(stdout, "ok: %s, %s\n", plural(len(set.Templates), "template"), plural(len(set.Routes), "route"))
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

// problemsError summarises problems by the file or folder they are in, or
// returns nil when there are none.
func problemsError(byPlace map[string][]string) error {
	var parts []string
	total := 0
	for place, ps := range byPlace {
		if len(ps) > 0 {
			parts = append(parts, fmt.Sprintf("%d in %s", len(ps), place))
			total += len(ps)
		}
	}
	if total == 0 {
		return nil
	}
	sort.Strings(parts)
	noun := "problems"
	if total == 1 {
		noun = "problem"
	}
	return fmt.Errorf("%d %s: %s", total, noun, strings.Join(parts, ", "))
}

// templateProblems loads the folder dir as the server would, and returns
// the set (nil if it has problems) and each problem as a
// "file:line[:col]: message" line naming the file under dir. The error is
// for a folder that cannot be read at all.
func templateProblems(dir string) (*template.Set, []string, error) {
	files, err := readFolder(dir)
	var set *template.Set
	if err == nil {
		set, err = template.BuildSet(files)
	}
	if err == nil {
		return set, nil, nil
	}
	var errs template.Errors
	if !errors.As(err, &errs) {
		return nil, nil, err
	}
	problems := make([]string, 0, len(errs))
	for _, e := range errs {
		e.File = filepath.Join(dir, e.File)
		problems = append(problems, e.Error())
	}
	return nil, problems, nil
}

// registryProblems reads a registry file as the server would, and returns
// its entries and each problem as a "file:line[:col]: message" line, in
// the order of the file. The entries are nil only when the file could not
// be read as a registry: an empty registry ({}) is an empty, non-nil list,
// against which every fragment id is checked.
func registryProblems(file string) ([]registry.Raw, []string) {
	raws, err := registry.ReadFile(file)
	if err != nil {
		return nil, []string{err.Error()}
	}
	if raws == nil {
		raws = []registry.Raw{}
	}
	errs := registry.New(nil).Update(raws)
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	problems := make([]string, 0, len(errs))
	for _, e := range errs {
		problems = append(problems, e.Error())
	}
	return raws, problems
}

// checkFragments reports the template fragments with no entry in raws,
// those whose loader attribute would send their entry's bare function name
// to another transport than Lambda, and those whose timeout attribute is
// not above their entry's fixed hedge delay (the hedge would never go). Nothing is checked when the set or the
// registry file could not be read (raws nil): their own problems say why.
func checkFragments(dir string, set *template.Set, raws []registry.Raw, file string) []string {
	if set == nil || raws == nil {
		return nil
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
	reg := registry.New(nil)
	reg.Update(raws)
	var problems []string
	seen := map[string]bool{} // a layout's fragment is in every page that uses it: once
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			problems = append(problems, p)
		}
	}
	for _, n := range names {
		tpl := set.Templates[n]
		for _, f := range tpl.Slots {
			where := fmt.Sprintf("%s:%d", filepath.Join(dir, tpl.File(f)), f.Line)
			if !known[f.ID] {
				add(fmt.Sprintf("%s: fragment %q is not in the registry %s", where, f.ID, file))
				continue
			}
			e, ok := reg.Lookup(f.ID)
			if ok && f.Loader != "" && fetch.Kind(e.Endpoint, string(f.Loader)) != fetch.Kind(e.Endpoint, e.Loader) {
				add(fmt.Sprintf("%s: fragment %q: loader=%q, but its entry is the Lambda function name %q (remove the attribute or write loader=\"lambda\")",
					where, f.ID, f.Loader, e.Endpoint))
			}
			if ok && e.Hedge.Delay > 0 && f.Timeout > 0 && e.Hedge.Delay >= f.Timeout {
				add(fmt.Sprintf("%s: fragment %q: its entry's hedge %s is not below this slot's timeout %s: the second request would never be sent (lower the hedge or raise the timeout)",
					where, f.ID, e.Hedge.Delay, f.Timeout))
			}
		}
	}
	return problems
}
