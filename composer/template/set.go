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
// routes.json, keyed by slash-separated path.
func ReadFiles(fsys fs.FS) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || (path.Ext(p) != ".html" && p != RoutesFile) {
			return nil
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
	return files, nil
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
		s.Templates[name] = t
		if code, ok := errorPageCode(name); ok {
			if src.layout == nil && len(src.regions) == 0 {
				s.ErrorPages[code] = files[name]
			} else {
				s.ErrorPages[code] = staticPage(t)
			}
		}
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
	for dec.More() {
		keyTok, err := dec.Token()
		if err != nil {
			fail(dec.InputOffset(), "%v", err)
			return nil, errs
		}
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
	}
	return routes, errs
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
