package sources

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/template"
)

// ProblemsError summarises problems by the file or folder they are in, or
// returns nil when there are none.
func ProblemsError(byPlace map[string][]string) error {
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

// TemplateProblems loads the folder dir as the server would, and returns
// the set (nil if it has problems), every fragment slot written in its
// files whether or not they compile (template.Slots: so an unknown id is
// reported in the same run as a typo in its file), and each problem as a
// "file:line[:col]: message" line naming the file under dir. The error is
// for a folder that cannot be read at all.
func TemplateProblems(dir string) (*template.Set, []template.Fragment, []string, error) {
	files, err := ReadFolder(dir)
	var set *template.Set
	var slots []template.Fragment
	if err == nil {
		slots = template.Slots(files)
		set, err = template.BuildSet(files)
	}
	if err == nil {
		return set, slots, nil, nil
	}
	var errs template.Errors
	if !errors.As(err, &errs) {
		return nil, nil, nil, err
	}
	problems := make([]string, 0, len(errs))
	for _, e := range errs {
		e.File = filepath.Join(dir, e.File)
		problems = append(problems, e.Error())
	}
	return nil, slots, problems, nil
}

// SetSlots lists the slots of set's templates, by template name, each with
// the file it is written in (a layout's slots under the layout's file).
func SetSlots(set *template.Set) []template.Fragment {
	if set == nil {
		return nil
	}
	names := make([]string, 0, len(set.Templates))
	for n := range set.Templates {
		names = append(names, n)
	}
	sort.Strings(names)
	var all []template.Fragment
	for _, n := range names {
		tpl := set.Templates[n]
		for _, f := range tpl.Slots {
			f.File = tpl.File(f)
			all = append(all, f)
		}
	}
	return all
}

// RegistryProblems reads a registry file as the server would, and returns
// its entries and each problem as a "file:line[:col]: message" line, in
// the order of the file. The entries are nil only when the file could not
// be read as a registry: an empty registry ({}) is an empty, non-nil list,
// against which every fragment id is checked.
func RegistryProblems(file string) ([]registry.Raw, []string) {
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

// CheckFragments reports the slots (from TemplateProblems or SetSlots)
// with no entry in raws, those whose loader attribute would send their
// entry's bare function name to another transport than Lambda, and those
// whose timeout attribute is not above their entry's fixed hedge delay (the
// hedge would never go). Nothing is checked when the registry file could
// not be read (raws nil): its own problems say why.
func CheckFragments(dir string, slots []template.Fragment, raws []registry.Raw, file string) []string {
	if raws == nil {
		return nil
	}
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
	for _, f := range slots {
		where := fmt.Sprintf("%s:%d", filepath.Join(dir, f.File), f.Line)
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
	return problems
}
