package template

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// RoutesFile is the route table's name beside the templates.
const RoutesFile = "routes.json"

// Route maps a chi pattern to a template.
type Route struct {
	Pattern  string
	Template *Template
}

// Set is everything a folder of templates holds: the compiled templates,
// the route table, and the error pages. A Set is published whole or not at
// all, and is immutable once loaded.
type Set struct {
	Templates map[string]*Template
	Routes    []Route
	// ErrorPages maps a status code to the bytes of "<code>.html"; key 0 is
	// "error.html", used for any status without its own page.
	ErrorPages map[int][]byte
}

// ErrorPage returns the page to show for status, or nil if the folder has
// none.
func (s *Set) ErrorPage(status int) []byte {
	if p, ok := s.ErrorPages[status]; ok {
		return p
	}
	return s.ErrorPages[0]
}

// LoadSet reads every *.html file and routes.json from fsys, compiles them
// and checks the route table. The error lists every problem in every file
// (type Errors); nothing is returned unless all is well.
func LoadSet(fsys fs.FS) (*Set, error) {
	files, err := ReadFiles(fsys)
	if err != nil {
		return nil, err
	}
	return BuildSet(files)
}

// ReadFiles reads the files a Set is built from: every *.html file and
// routes.json, keyed by slash-separated path. Only regular files are read
// (a symbolic link is followed, and refused where fsys refuses it, as an
// os.Root's does outside its folder): another kind, such as a FIFO, whose
// opening would wait for a writer, is a problem (type Errors).
func ReadFiles(fsys fs.FS) (map[string][]byte, error) {
	files := map[string][]byte{}
	var problems Errors
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (path.Ext(p) != ".html" && p != RoutesFile) {
			return nil
		}
		if !d.Type().IsRegular() {
			if msg := notRegular(fsys, p, d); msg != "" {
				problems = append(problems, &Error{File: p, Msg: msg})
				return nil
			}
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		files[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return files, nil
}

// notRegular says why p, which is not a regular file, is not read; "" for
// a symbolic link to a regular file that fsys lets it reach.
func notRegular(fsys fs.FS, p string, d fs.DirEntry) string {
	if d.Type()&fs.ModeSymlink == 0 {
		return "not a regular file: only regular files are read"
	}
	if target, err := fs.ReadLink(fsys, p); err == nil {
		if path.IsAbs(target) || !fs.ValidPath(path.Join(path.Dir(p), target)) {
			return "a symbolic link to outside the folder: only files in the folder are read"
		}
	}
	info, err := fs.Stat(fsys, p)
	switch {
	case err != nil:
		return fmt.Sprintf("a symbolic link that cannot be followed within the folder: %v", errors.Unwrap(err))
	case !info.Mode().IsRegular():
		return "a symbolic link to something that is not a regular file: only regular files are read"
	}
	return ""
}

// BuildSet compiles a set from file contents keyed by slash-separated path
// (templates and routes.json). Sources such as S3 fetch the bytes and call
// it.
func BuildSet(files map[string][]byte) (*Set, error) {
	s := &Set{Templates: map[string]*Template{}, ErrorPages: map[int][]byte{}}
	var errs Errors
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	broken := map[string]bool{} // reported already: routes to them add nothing
	sources := map[string]*source{}
	for _, name := range names {
		if name == RoutesFile {
			continue
		}
		src, perrs := parse(name, files[name])
		if len(perrs) > 0 {
			errs = append(errs, perrs...)
			broken[name] = true
			continue
		}
		sources[name] = src
	}
	r := newResolver(sources)
	r.broken = broken
	for _, name := range names {
		src, ok := sources[name]
		if !ok {
			continue
		}
		t, ok := r.template(name)
		if !ok {
			broken[name] = true
			continue
		}
		if code, ok := errorPageCode(name); ok {
			if f, ok := ownSlot(src); ok { // never composed: the tag would reach the browser
				errs = append(errs, &Error{File: name, Line: f.Line, Msg: fmt.Sprintf("<micro-frontend id=%q> in an error page: error pages are sent as static bytes, never composed (a layout's fragments show their fallbacks); write the markup itself", f.ID)})
				broken[name] = true
				continue
			}
			if src.layout == nil && len(src.regions) == 0 {
				s.ErrorPages[code] = files[name]
			} else {
				s.ErrorPages[code] = staticPage(t)
			}
		}
		s.Templates[name] = t
	}
	errs = append(errs, r.errs...)
	routes, ok := files[RoutesFile]
	if !ok {
		errs = append(errs, &Error{File: RoutesFile, Msg: "missing: the route table maps paths to templates, e.g. {\"/\": \"home.html\"}"})
	} else {
		s.Routes, errs = parseRoutes(bytes.TrimPrefix(routes, byteOrderMark), s.Templates, broken, errs)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// Slots lists every <micro-frontend> with an id written in the *.html
// files of files, by file then line, each with its File and the attributes
// that were read (a bad value is left at its zero), whether or not its file
// compiles. The compiler reads on past a problem, so a checker that needs
// the ids (composer validate's cross-check with the registry) can report an
// unknown id in the same run as a typo in the same file, not after the typo
// is fixed. A layout's fragments are listed once, under the layout's file.
func Slots(files map[string][]byte) []Fragment {
	names := make([]string, 0, len(files))
	for name := range files {
		if path.Ext(name) == ".html" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	var all []Fragment
	for _, name := range names {
		src, _ := parse(name, files[name])
		all = append(all, src.written...)
	}
	return all
}

// ownSlot is the first <micro-frontend> written in src itself (not in
// the layout it uses), if any.
func ownSlot(src *source) (Fragment, bool) {
	nodes := src.nodes
	if src.layout != nil {
		nodes = nil
		for _, f := range src.layout.fills {
			nodes = append(nodes, f.nodes...)
		}
	}
	var first Fragment
	found := false
	for _, n := range nodes {
		if n.kind == nodeSlot && (!found || n.frag.Line < first.Line) {
			first, found = n.frag, true
		}
	}
	return first, found
}

// errorPageCode says whether name is an error page: error.html (code 0) or
// a status such as 404.html.
func errorPageCode(name string) (int, bool) {
	if name == "error.html" {
		return 0, true
	}
	code, err := strconv.Atoi(strings.TrimSuffix(name, ".html"))
	if err != nil || code < 400 || code > 599 {
		return 0, false
	}
	return code, true
}

// parseRoutes reads routes.json as a stream of tokens so that each problem
// is reported on its line. A file that is not JSON at all is one problem,
// at its line and column. Routes to the templates in broken, whose own
// errors are reported, add none.
func parseRoutes(src []byte, templates map[string]*Template, broken map[string]bool, errs Errors) ([]Route, Errors) {
	fail := func(off int64, format string, args ...any) {
		errs = append(errs, &Error{File: RoutesFile, Line: lineAt(src, off), Msg: fmt.Sprintf(format, args...)})
	}
	failAt := func(off int64, format string, args ...any) Errors {
		line, col := position(src, off)
		return append(errs, &Error{File: RoutesFile, Line: line, Col: col, Msg: fmt.Sprintf(format, args...)})
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, failAt(0, "the file is empty: want a JSON object from route pattern to template name, e.g. {\"/product/{id}\": \"catalog.html\"}")
	}
	var whole any
	if err := json.Unmarshal(src, &whole); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se) && strings.Contains(se.Error(), "unexpected end"):
			return nil, failAt(int64(len(src)), "the file ends inside the route table: is it complete (a missing } or \")?")
		case errors.As(err, &se):
			return nil, failAt(se.Offset-1, "%v", se)
		}
		return nil, failAt(0, "%v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(src))
	tok, err := dec.Token()
	if err != nil || tok != json.Delim('{') {
		fail(dec.InputOffset(), "want a JSON object from route pattern to template name, e.g. {\"/product/{id}\": \"catalog.html\"}")
		return nil, errs
	}
	var routes []Route
	seen := map[string]bool{}
	sameAs := map[string]string{} // normalised pattern -> "pattern" (line N)
	keys := 0
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			fail(dec.InputOffset(), "%v", err)
			return nil, errs
		}
		keys++
		pattern, ok := keyTok.(string)
		if !ok {
			fail(dec.InputOffset(), "want a route pattern (a string) as key, got %v", keyTok)
			return nil, errs
		}
		off := dec.InputOffset()
		var name string
		if err := dec.Decode(&name); err != nil {
			fail(off, "route %q: the value must be a template name (a string)", pattern)
			if _, ok := err.(*json.SyntaxError); ok {
				return nil, errs
			}
			continue
		}
		if seen[pattern] {
			fail(off, "route %q given twice", pattern)
			continue
		}
		seen[pattern] = true
		if err := checkPattern(pattern); err != nil {
			fail(off, "route %q: %v", pattern, err)
			continue
		}
		if first, dup := sameAs[unnamed(pattern)]; dup {
			fail(off, "route %q is the same as %s: they differ only in parameter names, and only one could be served", pattern, first)
			continue
		}
		sameAs[unnamed(pattern)] = fmt.Sprintf("%q (line %d)", pattern, lineAt(src, off))
		t, ok := templates[strings.TrimPrefix(name, "/")]
		if !ok {
			if !broken[strings.TrimPrefix(name, "/")] {
				fail(off, "route %q: template %q not found", pattern, name)
			}
			continue
		}
		routes = append(routes, Route{Pattern: pattern, Template: t})
	}
	if _, err := dec.Token(); err != nil {
		fail(dec.InputOffset(), "%v", err)
	} else if _, err := dec.Token(); err != io.EOF {
		fail(dec.InputOffset(), "unexpected data after the route table")
	} else if keys == 0 {
		fail(0, "no routes: the route table maps paths to templates, e.g. {\"/\": \"home.html\"}")
	}
	return routes, errs
}

// unnamed is pattern with its parameters' names left out ({id} and
// {name} are both {}, {id:[0-9]+} is {:[0-9]+}): two patterns equal this
// way are one route to chi.
func unnamed(pattern string) string {
	var b strings.Builder
	depth := 0
	naming := false
	for _, r := range pattern {
		switch {
		case r == '{' && depth == 0:
			depth, naming = 1, true
			b.WriteRune(r)
			continue
		case r == '{':
			depth++
		case r == '}':
			depth--
			if depth == 0 {
				naming = false
			}
		case r == ':' && depth == 1 && naming:
			naming = false
		}
		if !naming {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// checkPattern asks chi whether it accepts pattern; chi panics on a bad one.
func checkPattern(pattern string) (err error) {
	if !strings.HasPrefix(pattern, "/") {
		return fmt.Errorf("a pattern starts with /")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not a valid chi pattern: %v", r)
		}
	}()
	chi.NewRouter().Get(pattern, http.NotFound)
	return nil
}

// position gives the 1-based line and column (in bytes) of offset off.
func position(src []byte, off int64) (line, col int) {
	off = max(0, min(off, int64(len(src))))
	before := src[:off]
	return 1 + bytes.Count(before, []byte{'\n'}), int(off) - bytes.LastIndexByte(before, '\n')
}

func lineAt(src []byte, off int64) int {
	if off > int64(len(src)) {
		off = int64(len(src))
	}
	return 1 + bytes.Count(src[:off], []byte{'\n'})
}
