// Package dev is composer dev: the server in the development mode, on loopback, with the
// template folder and the registry file watched. A save is published at
// once, by the same rules as a refresh (a broken save is refused, logged
// with its file and line, and shown on the open pages; the last good set
// keeps serving), and a page open in a browser reloads itself when its
// template, its layout or a registry entry of its fragments changes.
//
// Data flow:
//
//	fsnotify (folder tree, registry file's folder) --debounce--> sources.refresh --> devHub.check
//	devHub.check --SSE /_dev/events--> devScript in the page --> location.reload()
package dev

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-chi/chi/v5"

	"github.com/ssr-mfe/composer/composer/internal/hostcheck"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/settings"
	"github.com/ssr-mfe/composer/composer/sources"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/fragments"
)

// devEvents is the dev-only endpoint the pages' script listens to.
const devEvents = "/_dev/events"

// devDebounce is how long the watcher waits after an event for the rest of
// a save (an editor's write, truncate and rename come as several).
const devDebounce = 20 * time.Millisecond

// devScript is the dev mode's one inline script, the same bytes in every
// page (the page's version is in an attribute, outside the hashed text),
// so that a policy allows it by its hash (ScriptHash). It listens to
// devEvents, reloads the page when told, and shows the problems it is sent
// (a refused save's, or those validate reports in the served one) in a bar
// at the foot of the page.
const devScript = `(function(){var s=document.currentScript,v=s.getAttribute("data-mfe-dev")||"",bar=null,es=new EventSource("` + devEvents + `?page="+encodeURIComponent(location.pathname)+"&v="+encodeURIComponent(v));function show(t){if(!bar){bar=document.createElement("pre");bar.setAttribute("role","alert");bar.setAttribute("data-mfe-dev-problems","");var st=bar.style;st.position="fixed";st.left="0";st.right="0";st.bottom="0";st.margin="0";st.padding="1em";st.maxHeight="40vh";st.overflow="auto";st.background="#5c0011";st.color="#fff";st.font="13px/1.4 monospace";st.whiteSpace="pre-wrap";st.zIndex="2147483647";document.documentElement.appendChild(bar)}bar.textContent=t}es.addEventListener("reload",function(){es.close();location.reload()});es.addEventListener("problems",function(e){show(e.data)});es.addEventListener("ok",function(){if(bar){bar.remove();bar=null}})})()`

// ScriptHash is the CSP source that allows the reload script the dev
// mode puts in every page.
var ScriptHash = func() string {
	sum := sha256.Sum256([]byte(devScript))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

// Settings are the settings of `composer dev [-templates DIR] [-registry
// FILE] [flags]`: the server's, with the dev mode's defaults (loopback,
// ./templates, -dev on) and its -override flags; nil and no error after -h.
// subcommands lists the subcommands in the usage of a bad flag.
func Settings(args []string, getenv func(string) string, stdout, stderr io.Writer, subcommands func(io.Writer)) (*settings.Config, error) {
	env := func(k string) string {
		if v := getenv(k); v != "" && k != "COMPOSER_DEV" {
			return v
		}
		switch k {
		case "COMPOSER_DEV":
			return "true"
		case "COMPOSER_ADDR":
			return "127.0.0.1:8080"
		case "COMPOSER_OVERRIDE_HOSTS":
			return "localhost,127.0.0.1,::1" // with COMPOSER_OVERRIDE_KEY: fragments on this machine
		case "COMPOSER_TEMPLATES":
			if st, err := os.Stat("templates"); err == nil && st.IsDir() {
				return "templates"
			}
		}
		return ""
	}
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fmt.Fprintf(stdout, "usage: composer dev [-templates DIR] [-registry FILE] [-override ID=URL]... [flags]\n\n"+
				"Serves a local folder of templates in the development mode, on loopback, and watches\n"+
				"it and the registry file: each save is published at once (a broken one is refused and\n"+
				"shown), and a page open in a browser reloads itself when its template, layout or\n"+
				"registry entry changes. Without a registry file, the demo's fragments are started.\n\n"+
				"  -override ID=URL  serve fragment ID from URL (on this machine) instead of its entry's endpoint\n\n"+
				"Every server flag applies (composer -h lists them); here the defaults are\n"+
				"-templates ./templates -addr 127.0.0.1:8080 -admin-addr 127.0.0.1:9090, and -dev is on.\n")
			return nil, nil
		}
	}
	overrides, args, err := devOverrides(args)
	if err != nil {
		return nil, fmt.Errorf("dev: %w", err)
	}
	cfg, err := settings.Parse(args, env, stderr, subcommands)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, fmt.Errorf("dev: %w", err)
	}
	switch {
	case cfg.Templates == "":
		return nil, errors.New("dev: name the template folder to watch: composer dev -templates DIR (the default, ./templates, is not here)")
	case settings.IsS3(cfg.Templates):
		return nil, fmt.Errorf("dev: -templates %s: composer dev watches a local folder", cfg.Templates)
	}
	cfg.Dev = true // serve while the folder is broken, and reload it as it is fixed
	cfg.Watch = true
	cfg.DevOut = stdout
	cfg.DevOverrides = overrides
	if len(cfg.AllowedHosts) > 0 { // fragments being written run on this machine
		cfg.AllowedHosts = append(cfg.AllowedHosts, "localhost", "127.0.0.1", "::1")
	}
	if getenv("COMPOSER_OVERRIDE_HOSTS") != "" || cfg.FlagsSet["override-hosts"] { // and so may overrides
		cfg.OverrideHosts = append(cfg.OverrideHosts, "localhost", "127.0.0.1", "::1")
	}
	if cfg.CSP == "" && cfg.Registry == "" {
		cfg.CSP = settings.DemoCSP // the demo's fragments: its strict policy, as served
	}
	return cfg, nil
}

// Inputs adapts the sources to the dev mode: the demo's static files
// when its fragments are used (the embedded demo mounts them; a folder of
// templates does not), and the -override endpoints over the registry's.
func Inputs(cfg *settings.Config, in *sources.Inputs) {
	if cfg.Registry == "" {
		if _, ok := in.Mounts["/static/*"]; !ok {
			in.Mounts["/static/*"] = fragments.Static()
		}
	}
	if len(cfg.DevOverrides) > 0 {
		in.Registry = overriddenRegistry{RegistrySource: in.Registry, endpoints: cfg.DevOverrides}
	}
}

// devOverrides takes the dev-only "-override ID=URL" flags (any number)
// out of args: a fragment served from this machine while it is written,
// in place of its registry entry's endpoint.
func devOverrides(args []string) (map[string]string, []string, error) {
	overrides := map[string]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var v string
		switch {
		case a == "-override" || a == "--override":
			if i+1 == len(args) {
				return nil, nil, errors.New("-override wants ID=URL")
			}
			i++
			v = args[i]
		case strings.HasPrefix(a, "-override=") || strings.HasPrefix(a, "--override="):
			_, v, _ = strings.Cut(a, "=")
		default:
			rest = append(rest, a)
			continue
		}
		id, u, ok := strings.Cut(v, "=")
		if !ok || id == "" || registry.CheckEndpoint(u) != nil {
			return nil, nil, fmt.Errorf("-override %q: want ID=URL, such as product=http://127.0.0.1:3000/", registry.RedactEndpoint(v))
		}
		overrides[id] = u
	}
	return overrides, rest, nil
}

// overriddenRegistry is a registry source whose entries for some ids have
// another endpoint (their other fields kept); an id it lacks is added.
type overriddenRegistry struct {
	sources.RegistrySource
	endpoints map[string]string
}

func (o overriddenRegistry) Raws(ctx context.Context) ([]registry.Raw, error) {
	raws, err := o.RegistrySource.Raws(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, r := range raws {
		u, ok := o.endpoints[r.ID]
		if !ok {
			continue
		}
		seen[r.ID] = true
		var entry map[string]json.RawMessage
		if json.Unmarshal(r.Data, &entry) != nil { // a bare endpoint: replaced whole
			entry = map[string]json.RawMessage{}
		}
		entry["endpoint"], _ = json.Marshal(u)
		delete(entry, "loader") // a URL says its own kind
		raws[i].Data, _ = json.Marshal(entry)
		raws[i].From = r.From + " (endpoint from -override)"
	}
	for id, u := range o.endpoints {
		if !seen[id] {
			data, _ := json.Marshal(u)
			raws = append(raws, registry.Raw{ID: id, From: "-override " + id, Data: data})
		}
	}
	return raws, nil
}

// Server is the dev mode around the page server: the events endpoint,
// the reload script in every HTML page, and the watcher.
type Server struct {
	log     *slog.Logger
	out     io.Writer
	srv     *server.Server
	reg     *registry.Registry
	src     *sources.Sources
	cfg     *settings.Config
	watcher *fsnotify.Watcher
	dirs    []string // the template folder (and its tree) and the registry file's folder
	regFile string   // the registry file, cleaned, or ""
	ctx     context.Context
	done    chan struct{}

	mu      sync.Mutex
	clients map[*devClient]struct{}
	state   devState
	router  devRouter
}

type devClient struct {
	page    string
	version string
	events  chan devEvent
}

type devEvent struct{ name, data string }

// devState is what the hub last told the pages about.
type devState struct {
	set             *template.Set
	registry        string // hash of the registry's entries
	refused, checks string // the problems of a refused save; those validate reports in the served one
	problems        string // the page's bar: both, under their headings
}

// devRouter finds the template of a path in one set.
type devRouter struct {
	set    *template.Set
	mux    *chi.Mux
	byPath map[string]*template.Template
}

// Start starts watching; the returned server wraps srv.
func Start(ctx context.Context, cfg *settings.Config, log *slog.Logger, srv *server.Server, reg *registry.Registry, src *sources.Sources) (*Server, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("dev: watch: %w", err)
	}
	d := &Server{log: log, out: cfg.DevOut, srv: srv, reg: reg, src: src, cfg: cfg, watcher: w, ctx: ctx, done: make(chan struct{}), clients: map[*devClient]struct{}{}}
	if d.out == nil {
		d.out = io.Discard
	}
	d.dirs = []string{filepath.Clean(cfg.Templates)}
	if cfg.Registry != "" && !settings.IsSSM(cfg.Registry) {
		d.regFile = filepath.Clean(cfg.Registry)
		d.dirs = append(d.dirs, filepath.Dir(d.regFile))
	}
	d.addWatches()
	d.state = d.current()
	go d.watch(ctx)
	return d, nil
}

// Close stops watching.
func (d *Server) Close() {
	_ = d.watcher.Close()
	<-d.done
}

// addWatches watches every folder of the template tree and the registry
// file's folder: a folder, not a file, so that an editor's save by rename
// is seen, and again after a folder was removed and made anew.
func (d *Server) addWatches() {
	watched := map[string]bool{}
	for _, p := range d.watcher.WatchList() {
		watched[p] = true
	}
	add := func(dir string) {
		if watched[dir] {
			return
		}
		if err := d.watcher.Add(dir); err != nil {
			d.log.Warn("dev: cannot watch a folder", slog.String("folder", dir), slog.String("error", err.Error()))
			return
		}
		watched[dir] = true
	}
	_ = filepath.WalkDir(d.dirs[0], func(p string, e os.DirEntry, err error) error {
		if err == nil && e.IsDir() {
			add(p)
		}
		return nil
	})
	for _, dir := range d.dirs[1:] {
		add(dir)
	}
}

// relevant says whether an event may change what is served.
func (d *Server) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	name := filepath.Clean(ev.Name)
	if d.regFile != "" && name == d.regFile {
		return true
	}
	rel, err := filepath.Rel(d.dirs[0], name)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	base := filepath.Base(name)
	if filepath.Ext(base) == ".html" || base == template.RoutesFile {
		return true
	}
	// A folder made, removed or renamed: it may hold templates.
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		return true
	}
	st, err := os.Stat(name)
	return err == nil && st.IsDir()
}

// watch publishes saves until ctx is done or the watcher is closed.
func (d *Server) watch(ctx context.Context) {
	defer close(d.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	safety := time.NewTicker(time.Second) // re-adds watches lost with a removed folder
	defer safety.Stop()
	var first time.Time // the first event of the pending save
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-d.watcher.Events:
			if !ok {
				return
			}
			if !d.relevant(ev) {
				continue
			}
			if first.IsZero() {
				first = time.Now()
			}
			timer.Reset(devDebounce)
		case err, ok := <-d.watcher.Errors:
			if !ok {
				return
			}
			d.log.Warn("dev: watcher", slog.String("error", err.Error()))
			if first.IsZero() {
				first = time.Now()
			}
			timer.Reset(devDebounce) // an overflow: something was missed, read all
		case <-safety.C:
			d.addWatches()
			d.check()
		case <-timer.C:
			d.addWatches()
			d.src.Refresh(ctx)
			d.check()
			d.log.Debug("dev: save read", slog.Float64("after_ms", float64(time.Since(first).Microseconds())/1000))
			first = time.Time{}
		}
	}
}

// current reads what is served now.
func (d *Server) current() devState {
	st := devState{set: d.srv.Templates()}
	h := sha256.New()
	for _, r := range d.reg.Raws() {
		fmt.Fprintf(h, "%s\x00%d\x00%s", r.ID, len(r.Data), r.Data)
	}
	st.registry = hex.EncodeToString(h.Sum(nil))
	st.refused = strings.Join(d.src.Problems(), "\n")
	st.checks = strings.Join(d.src.Checks(), "\n")
	var bar []string
	if st.refused != "" {
		bar = append(bar, "composer dev: the last save was refused; this page is the last good version.\n\n"+st.refused)
	}
	if st.checks != "" {
		bar = append(bar, "composer dev: served, but composer validate reports:\n\n"+st.checks)
	}
	st.problems = strings.Join(bar, "\n\n")
	return st
}

// check tells the open pages what changed since the last check: a reload
// to each page whose version changed, and the problems of a refused save
// (or that there are none any more).
func (d *Server) check() {
	st := d.current()
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.state
	d.state = st
	if st.set == old.set && st.registry == old.registry && st.problems == old.problems {
		return
	}
	if st.problems != old.problems {
		for c := range d.clients {
			c.send(problemsEvent(st.problems))
		}
		if st.refused != "" && st.refused != old.refused {
			fmt.Fprintf(d.out, "composer dev: save refused; the last good version keeps serving:\n%s\n", st.refused)
		}
		if st.checks != "" && st.checks != old.checks {
			fmt.Fprintf(d.out, "composer dev: served, but composer validate reports:\n%s\n", st.checks)
		}
	}
	for c := range d.clients {
		if v := d.versionLocked(c.page); v != c.version {
			c.version = v
			c.send(devEvent{name: "reload"})
		}
	}
}

func problemsEvent(problems string) devEvent {
	if problems == "" {
		return devEvent{name: "ok"}
	}
	return devEvent{name: "problems", data: problems}
}

func (c *devClient) send(ev devEvent) {
	select {
	case c.events <- ev:
	default: // a client that does not read loses events, not the hub
	}
}

// version identifies what the page at path is made of now: its compiled
// template (layouts in place) and the registry entries of its fragments,
// or the 404 page.
func (d *Server) version(path string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.versionLocked(path)
}

func (d *Server) versionLocked(path string) string {
	set := d.srv.Templates()
	if set == nil {
		return "none"
	}
	h := sha256.New()
	tpl := d.routeLocked(set, path)
	if tpl == nil {
		h.Write([]byte("404\x00"))
		h.Write(set.ErrorPage(http.StatusNotFound))
		return hex.EncodeToString(h.Sum(nil))[:16]
	}
	for _, p := range tpl.Parts {
		fmt.Fprintf(h, "%d\x00%d\x00%d\x00", p.Kind, p.Slot, len(p.Raw))
		h.Write(p.Raw)
	}
	raws := map[string][]byte{}
	for _, r := range d.reg.Raws() {
		raws[r.ID] = r.Data
	}
	for _, f := range tpl.Slots {
		fmt.Fprintf(h, "%s\x00%v\x00%v\x00%s\x00%s\x00%d\x00", f.ID, f.Required, f.Async, f.Timeout, f.Loader, len(f.Fallback))
		h.Write(f.Fallback)
		fmt.Fprintf(h, "%d\x00", len(raws[f.ID]))
		h.Write(raws[f.ID])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// routeLocked finds the template that serves path in set, or nil.
func (d *Server) routeLocked(set *template.Set, path string) *template.Template {
	if d.router.set != set {
		mux := chi.NewRouter()
		byPattern := map[string]*template.Template{}
		for _, r := range set.Routes {
			mux.Get(r.Pattern, http.NotFound)
			byPattern[r.Pattern] = r.Template
		}
		d.router = devRouter{set: set, mux: mux, byPath: byPattern}
	}
	pattern := d.router.mux.Find(chi.NewRouteContext(), http.MethodGet, path)
	return d.router.byPath[pattern]
}

// Listening says which page to open, once the listener is up.
func (d *Server) Listening(addr net.Addr) {
	url := pageURL(addr, d.srv.Templates())
	watching := d.cfg.Templates
	if d.regFile != "" {
		watching += " and " + d.regFile
	}
	d.log.Info("dev: open this page; it reloads itself when its template, layout or registry entry changes", slog.String("url", url), slog.String("watching", watching))
	fmt.Fprintf(d.out, "composer dev: open %s (watching %s; pages reload themselves on save)\n", url, watching)
}

// Templates is the set served now.
func (d *Server) Templates() *template.Set { return d.srv.Templates() }

// ServeHTTP serves the events endpoint, and every other request through
// the page server with the reload script in its HTML.
func (d *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A page whose name was rebound to this address (DNS rebinding) sends
	// its own name as Host: it would read the pages, the local fragments
	// and the events (file names, lines, problems).
	if !hostcheck.Allowed(d.cfg.Addr, r.Host) {
		http.Error(w, "composer dev: Host "+strconv.Quote(r.Host)+" is not this machine: open the page by localhost, 127.0.0.1 or the name it listens on", http.StatusForbidden)
		return
	}
	if r.URL.Path == devEvents || strings.HasPrefix(r.URL.Path, "/_dev/") {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			http.Error(w, "composer dev: GET only", http.StatusMethodNotAllowed)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !devOriginAllowed(d.cfg.Addr, o) {
			http.Error(w, "composer dev: Origin "+strconv.Quote(o)+" is not a page of this server", http.StatusForbidden)
			return
		}
		if r.URL.Path == devEvents {
			d.events(w, r)
			return
		}
	}
	r.Header.Del("Accept-Encoding") // the script goes into the page as it streams
	in := &devInjector{ResponseWriter: w, tag: `<script data-mfe-dev="` + d.version(r.URL.Path) + `">` + devScript + `</script>`}
	d.srv.ServeHTTP(in, r)
	in.finish()
}

// devOriginAllowed says whether an Origin is a page of this dev server's.
func devOriginAllowed(listen, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false // "null" included: a sandboxed frame, a file
	}
	return hostcheck.Allowed(listen, u.Host)
}

// events streams Server-Sent Events to one page: "reload" when the page's
// version is not the one it was served with, "problems" and "ok".
func (d *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	page := r.URL.Query().Get("page")
	c := &devClient{page: page, version: r.URL.Query().Get("v"), events: make(chan devEvent, 16)}
	d.mu.Lock()
	d.clients[c] = struct{}{}
	now := d.versionLocked(page)
	if c.version == "" {
		c.version = now
	}
	stale := c.version != now // changed between the page and this request
	c.version = now
	problems := d.state.problems
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.clients, c)
		d.mu.Unlock()
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	write := func(ev devEvent) bool {
		var b strings.Builder
		b.WriteString("event: " + ev.name + "\n")
		for _, line := range strings.Split(ev.data, "\n") {
			b.WriteString("data: " + line + "\n")
		}
		b.WriteString("\n")
		if _, err := io.WriteString(w, b.String()); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write(problemsEvent(problems)) {
		return
	}
	if stale {
		write(devEvent{name: "reload"})
		return
	}
	ping := time.NewTicker(15 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-d.ctx.Done(): // shutting down: the page reconnects to the next server
			return
		case <-d.done:
			return
		case <-ping.C:
			if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case ev := <-c.events:
			if !write(ev) {
				return
			}
		}
	}
}

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

// pageURL is where a browser finds a page of set on the listener at a:
// its first route that has no parameter (else its first route as it is
// written), or the root when no set is loaded yet. composer dev prints it.
func pageURL(a net.Addr, set *template.Set) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := "localhost"
	if !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		host = ta.IP.String()
	}
	path := "/"
	if set != nil && len(set.Routes) > 0 {
		path = set.Routes[0].Pattern
		for _, r := range set.Routes {
			if !strings.ContainsAny(r.Pattern, "{*") {
				path = r.Pattern
				break
			}
		}
	}
	return fmt.Sprintf("http://%s%s", net.JoinHostPort(host, fmt.Sprint(ta.Port)), path)
}
