package dev

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ssr-mfe/composer/composer/internal/hostcheck"
	"github.com/ssr-mfe/composer/composer/template"
)

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
