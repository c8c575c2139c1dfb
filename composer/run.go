package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"time"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/fragments"
	"github.com/ssr-mfe/composer/templates"
)

// run is the whole program: main only adds the signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 && args[1] == "validate" {
		return validate(args[2:], stdout, stderr)
	}
	cfg, err := parseConfig(args[1:], getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log := newLogger(cfg, stderr)

	src := &sources{log: log}
	var mounts map[string]http.Handler
	switch {
	case cfg.templates == "" && cfg.registry == "":
		log.Info("running the embedded demo: example fragments on loopback ports, templates from templates/; set COMPOSER_TEMPLATES and COMPOSER_REGISTRY to serve your own")
	case cfg.templates == "":
		log.Info("templates: the embedded demo's (COMPOSER_TEMPLATES is not set)")
	case cfg.registry == "":
		log.Info("registry: the embedded demo's fragments (COMPOSER_REGISTRY is not set)")
	}
	if cfg.templates == "" {
		src.templatesFS, src.templatesName = templates.FS, "the embedded demo templates"
	} else {
		if st, err := os.Stat(cfg.templates); err != nil || !st.IsDir() {
			return fmt.Errorf("COMPOSER_TEMPLATES=%q: not a folder", cfg.templates)
		}
		src.templatesFS, src.templatesName = os.DirFS(cfg.templates), cfg.templates
	}
	if cfg.registry == "" {
		demo, err := fragments.StartDemo(log, fragments.All(fragments.DefaultRecommendationsDelay))
		if err != nil {
			return err
		}
		defer demo.Close(context.Background())
		src.registryName, src.registryData = "demo registry", demo.Registry
		mounts = demo.Mounts
	} else {
		src.registryName = cfg.registry
	}

	reg := registry.New(nil)
	httpFetch := fetch.NewHTTP()
	defer httpFetch.Close()
	composer := &stream.Composer{
		Fetch:    &fetch.Mux{HTTP: httpFetch},
		Registry: reg,
		Log:      log,
		Timeout:  cfg.fragmentTimeout,
	}
	srv := server.New(log, composer, reg, mounts)
	src.srv, src.reg = srv, reg
	src.refresh()

	l, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	hs := &http.Server{
		Handler: srv,
		// Slow-loris protection; the body of a page is bounded by the
		// fragments' deadlines instead of a write timeout, which would cut
		// long streams.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(l) }()
	log.Info("listening", slog.String("addr", l.Addr().String()), slog.String("url", pageURL(l.Addr())))

	refreshDone := make(chan struct{})
	refreshCtx, stopRefresh := context.WithCancel(ctx)
	go func() {
		defer close(refreshDone)
		src.loop(refreshCtx, cfg.refresh)
	}()
	defer func() {
		stopRefresh()
		<-refreshDone
	}()

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: no new connections; finishing pages in flight", slog.Duration("grace", cfg.shutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutdown: pages still in flight after %s: %w", cfg.shutdownTimeout, err)
	}
	log.Info("stopped")
	return nil
}

func pageURL(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := "localhost"
	if !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		host = ta.IP.String()
	}
	return fmt.Sprintf("http://%s/productdetails", net.JoinHostPort(host, fmt.Sprint(ta.Port)))
}

// sources re-reads the templates and the registry, publishing what changed
// and keeping the last good copy of what broke.
type sources struct {
	log *slog.Logger
	srv *server.Server
	reg *registry.Registry

	templatesFS   fs.FS
	templatesName string
	registryName  string // a file path, or a name when registryData is set
	registryData  []byte // fixed content (the demo)

	templatesSum, registrySum [sha256.Size]byte
}

func (s *sources) loop(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.refresh()
		}
	}
}

func (s *sources) refresh() {
	s.refreshTemplates()
	s.refreshRegistry()
}

func (s *sources) refreshTemplates() {
	files, err := template.ReadFiles(s.templatesFS)
	if err != nil {
		s.log.Error("templates not re-read; the last good set keeps serving", slog.String("source", s.templatesName), slog.String("error", err.Error()))
		return
	}
	sum := filesSum(files)
	if sum == s.templatesSum && s.srv.Templates() != nil {
		return
	}
	s.templatesSum = sum
	set, err := template.BuildSet(files)
	if err != nil {
		var errs template.Errors
		if errors.As(err, &errs) {
			for _, e := range errs {
				s.log.Error("template error", slog.String("source", s.templatesName), slog.String("file", e.File), slog.Int("line", e.Line), slog.String("error", e.Msg))
			}
		}
		s.log.Error("templates not published; the last good set keeps serving", slog.String("source", s.templatesName))
		return
	}
	s.srv.SetTemplates(set)
	s.log.Info("templates published", slog.String("source", s.templatesName), slog.Int("templates", len(set.Templates)), slog.Int("routes", len(set.Routes)))
}

func (s *sources) refreshRegistry() {
	data := s.registryData
	if data == nil {
		var err error
		data, err = os.ReadFile(s.registryName)
		if err != nil {
			s.log.Error("registry not re-read; the last good entries stay in use", slog.String("source", s.registryName), slog.String("error", err.Error()))
			return
		}
	}
	sum := sha256.Sum256(data)
	if sum == s.registrySum && s.reg.Loaded() {
		return
	}
	raws, err := registry.ParseFile(s.registryName, data)
	if err != nil {
		s.log.Error("registry not published; the last good entries stay in use", slog.String("error", err.Error()))
		return
	}
	s.registrySum = sum
	for _, e := range s.reg.Update(raws) {
		s.log.Error("registry entry skipped; its last good value stays in use", slog.String("source", s.registryName), slog.String("id", e.ID), slog.String("error", e.Err.Error()))
	}
	s.log.Info("registry published", slog.String("source", s.registryName), slog.Int("entries", len(s.reg.IDs())))
}

func filesSum(files map[string][]byte) [sha256.Size]byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(files[n]))
		h.Write(files[n])
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
