package dev

import (
	"bytes"
	"net/http"
	"strings"
)

// devInjector puts the reload script into an HTML response: just before
// the first </head>, or at the end of a page without one. It amends the
// response's Content-Security-Policy to allow the script by its hash.
type devInjector struct {
	http.ResponseWriter
	tag     string
	wrote   bool
	active  bool   // an HTML response the tag is not in yet
	pending []byte // the end of what was written that may begin </head>
}

func (w *devInjector) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		if strings.HasPrefix(h.Get("Content-Type"), "text/html") && code != http.StatusNotModified && code != http.StatusNoContent {
			w.active = true
			h.Del("Content-Length")
			if csp := h.Get("Content-Security-Policy"); csp != "" {
				h.Set("Content-Security-Policy", devPolicy(csp))
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *devInjector) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if !w.active {
		return w.ResponseWriter.Write(p)
	}
	buf := append(w.pending, p...)
	w.pending = nil
	if i := indexFold(buf, "</head>"); i >= 0 {
		w.active = false
		out := make([]byte, 0, len(buf)+len(w.tag))
		out = append(append(append(out, buf[:i]...), w.tag...), buf[i:]...)
		_, err := w.ResponseWriter.Write(out)
		return len(p), err
	}
	keep := partialSuffix(buf, "</head>")
	w.pending = append([]byte(nil), buf[len(buf)-keep:]...)
	_, err := w.ResponseWriter.Write(buf[:len(buf)-keep])
	return len(p), err
}

// finish writes the tag at the end of an HTML page that had no </head>.
func (w *devInjector) finish() {
	if w.active {
		w.active = false
		_, _ = w.ResponseWriter.Write(append(w.pending, w.tag...))
	}
}

func (w *devInjector) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *devInjector) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func indexFold(b []byte, s string) int {
	return bytes.Index(bytes.ToLower(b), []byte(s))
}

// partialSuffix is the length of the longest end of b that begins s.
func partialSuffix(b []byte, s string) int {
	for n := min(len(b), len(s)-1); n > 0; n-- {
		if strings.EqualFold(string(b[len(b)-n:]), s[:n]) {
			return n
		}
	}
	return 0
}

// devPolicy adds what the reload script needs to a page's policy: its
// hash to the scripts allowed, and this origin to the connections (its
// EventSource).
func devPolicy(csp string) string {
	var dirs [][]string
	index := map[string]int{}
	for _, d := range strings.Split(csp, ";") {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		f[0] = strings.ToLower(f[0])
		index[f[0]] = len(dirs)
		dirs = append(dirs, f)
	}
	has := func(f []string, v string) bool {
		for _, x := range f[1:] {
			if strings.EqualFold(x, v) {
				return true
			}
		}
		return false
	}
	// A hash in a list that allows every inline script by 'unsafe-inline'
	// alone would turn that off.
	needless := func(f []string, source string) bool {
		if has(f, source) || has(f, "*") {
			return true
		}
		if source != ScriptHash || !has(f, "'unsafe-inline'") {
			return false
		}
		for _, x := range f[1:] {
			if strings.HasPrefix(x, "'sha") || strings.HasPrefix(x, "'nonce-") || x == "'strict-dynamic'" {
				return false
			}
		}
		return true
	}
	// add appends source to a directive's list; 'none' is a list of its
	// own, which a source replaces.
	add := func(f []string, source string) []string {
		out := f[:1:1]
		for _, x := range f[1:] {
			if !strings.EqualFold(x, "'none'") {
				out = append(out, x)
			}
		}
		return append(out, source)
	}
	allow := func(name, source string) {
		if i, ok := index[name]; ok {
			if !needless(dirs[i], source) {
				dirs[i] = add(dirs[i], source)
			}
			return
		}
		if i, ok := index["default-src"]; ok && !needless(dirs[i], source) {
			d := append([]string{name}, dirs[i][1:]...)
			index[name] = len(dirs)
			dirs = append(dirs, add(d, source))
		}
	}
	allow("script-src", ScriptHash)
	allow("connect-src", "'self'")
	parts := make([]string, len(dirs))
	for i, d := range dirs {
		parts[i] = strings.Join(d, " ")
	}
	return strings.Join(parts, "; ")
}
