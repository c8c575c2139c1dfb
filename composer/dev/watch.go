package dev

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/go-chi/chi/v5"

	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/settings"
	"github.com/ssr-mfe/composer/composer/sources"
	"github.com/ssr-mfe/composer/composer/template"
)

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
	if d.state.checks != "" { // as after a save: the terminal hears of it too
		fmt.Fprintf(d.out, "composer dev: served, but composer validate reports:\n%s\n", d.state.checks)
	}
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
