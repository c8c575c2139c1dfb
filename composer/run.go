package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/ssr-mfe/composer/composer/breaker"
	"github.com/ssr-mfe/composer/composer/cache"
	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/hedge"
	"github.com/ssr-mfe/composer/composer/registry"
	"github.com/ssr-mfe/composer/composer/s3templates"
	"github.com/ssr-mfe/composer/composer/server"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
	"github.com/ssr-mfe/composer/composer/stream"
	"github.com/ssr-mfe/composer/composer/template"
	"github.com/ssr-mfe/composer/fragments"
	"github.com/ssr-mfe/composer/templates"
)

// run is the whole program: main only adds the signals and the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 1 {
		for _, c := range commands {
			if args[1] == c.name {
				return c.run(ctx, args[2:], getenv, stdout, stderr)
			}
		}
		switch {
		case args[1] == "help" && len(args) == 2:
			args = []string{args[0], "-h"}
		case args[1] == "help":
			return run(ctx, []string{args[0], args[2], "-h"}, getenv, stdout, stderr)
		case !strings.HasPrefix(args[1], "-"):
			return unknownCommand(args[1])
		}
	}
	cfg, err := parseConfig(args[1:], getenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return serve(ctx, cfg, getenv, stderr)
}

// serve is the server's start-up, in its steps, and then its life until
// ctx is done:
//
//  1. configuration: cfg, read by parseConfig; the logger, metrics and
//     AWS clients
//  2. sources: openSources says where templates and registry come from;
//     refuseBrokenLocalSources stops here on a local folder or registry
//     file with problems (outside the development mode)
//  3. the composer: newComposer, the fragment transports, cache, tracing
//     and the page server
//  4. first load: sources.firstLoad reads templates and registry once,
//     from their sources or the snapshot
//  5. the listeners: listen serves the admin and public listeners and
//     refreshes the sources until ctx is done, then shuts down
func serve(ctx context.Context, cfg *config, getenv func(string) string, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	clients, err := loadAWS(ctx, getenv, log)
	if err != nil {
		return err
	}

	in, err := openSources(cfg, clients, log, metrics)
	if err != nil {
		return err
	}
	defer in.close()
	if cfg.watch {
		devInputs(cfg, in)
	}
	if err := refuseBrokenLocalSources(cfg, stderr); err != nil {
		return err
	}

	reg := registry.New(nil)
	refused := newRefusals(metrics)
	srv, closeComposer, err := newComposer(ctx, cfg, getenv, log, metrics, clients, reg, in.mounts, refused.notices)
	if err != nil {
		return err
	}
	defer closeComposer()

	src := newSources(log, srv, reg, in.templates, in.registry, cfg.snapshotDir, refused, metrics)
	src.firstLoad(ctx)
	if cfg.watch {
		dev, err := startDev(ctx, cfg, log, srv, reg, src)
		if err != nil {
			return err
		}
		defer dev.close()
		return listen(ctx, cfg, log, dev, src, metrics)
	}
	return listen(ctx, cfg, log, srv, src, metrics)
}

// inputs are where templates and registry come from, and the handlers
// served beside the pages (the demo's fragments and assets, the proxies).
type inputs struct {
	templates templateSource
	registry  registrySource
	mounts    map[string]http.Handler
	close     func()
}

// openSources chooses the template and registry sources from cfg: the
// embedded demo, a local folder or file, S3 or Parameter Store. The demo's
// fragments are started here; close stops them.
func openSources(cfg *config, clients *awsClients, log *slog.Logger, metrics prometheus.Registerer) (*inputs, error) {
	switch {
	case cfg.templates == "" && cfg.registry == "":
		log.Info("running the embedded demo: example fragments on loopback ports, templates from templates/; set COMPOSER_TEMPLATES and COMPOSER_REGISTRY to serve your own")
	case cfg.templates == "":
		log.Info("templates: the embedded demo's (COMPOSER_TEMPLATES is not set)")
	case cfg.registry == "":
		log.Info("registry: the embedded demo's fragments (COMPOSER_REGISTRY is not set)")
	}
	in := &inputs{mounts: map[string]http.Handler{}, close: func() {}}
	for prefix, target := range cfg.proxies {
		in.mounts[prefix+"*"] = newProxy(prefix, target, log)
	}
	switch {
	case cfg.templates == "":
		in.templates = demoTemplates{dirSource{name: "the embedded demo templates", fsys: templates.FS}}
		in.mounts["/static/*"] = fragments.Static() // the demo pages link the shell's and fragments' assets
	case isS3(cfg.templates):
		loc, err := s3templates.ParseURI(cfg.templates)
		if err != nil {
			return nil, fmt.Errorf("%s%w", cfg.assign("COMPOSER_TEMPLATES"), err)
		}
		in.templates = s3templates.New(clients.s3, loc)
	default:
		if st, err := os.Stat(cfg.templates); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s: not a folder", cfg.namedValue("COMPOSER_TEMPLATES", cfg.templates))
		}
		in.templates = dirSource{name: cfg.templates, dir: cfg.templates}
	}
	switch {
	case cfg.registry == "":
		demo, err := fragments.StartDemo(log, fragments.All(fragments.DefaultRecommendationsDelay))
		if err != nil {
			return nil, err
		}
		in.close = func() { demo.Close(context.Background()) }
		in.registry = fixedRegistry{name: "demo registry", data: demo.Registry}
		maps.Copy(in.mounts, demo.Mounts)
	case isSSM(cfg.registry):
		prefix, err := ssmregistry.ParseURI(cfg.registry)
		if err != nil {
			return nil, fmt.Errorf("%s%w", cfg.assign("COMPOSER_REGISTRY"), err)
		}
		in.registry = ssmregistry.NewWithOptions(clients.ssm, prefix, ssmregistry.Options{FullRefresh: cfg.regFullRefresh, Refresh: cfg.refresh, Log: log, Metrics: metrics})
	default:
		if _, err := os.Stat(cfg.registry); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file", cfg.namedValue("COMPOSER_REGISTRY", cfg.registry))
		}
		in.registry = fileRegistry{path: cfg.registry}
	}
	return in, nil
}

func isS3(templates string) bool { return strings.HasPrefix(templates, "s3://") }
func isSSM(registry string) bool { return strings.HasPrefix(registry, "ssm:") }

// refuseBrokenLocalSources is the first load's rule for local sources:
// outside the development mode, a local template folder or registry file
// with problems is not served. It prints them as `composer validate` does,
// one file:line[:col]: message per line, and returns an error. With both
// a local folder and a local registry file, every fragment id of the
// templates must be in the registry, as validate -registry checks. S3 and
// Parameter Store are not checked here: a fleet keeps serving its last
// good copy (or its snapshot, or 503) while they are fixed, and entries
// may arrive in Parameter Store after the templates that use them.
func refuseBrokenLocalSources(cfg *config, stderr io.Writer) error {
	if cfg.dev {
		return nil
	}
	byPlace := map[string][]string{}
	localTemplates := cfg.templates != "" && !isS3(cfg.templates)
	localRegistry := cfg.registry != "" && !isSSM(cfg.registry)
	var set *template.Set
	if localTemplates {
		var problems []string
		var err error
		set, problems, err = templateProblems(cfg.templates)
		if err != nil {
			problems = []string{err.Error()}
		}
		byPlace[cfg.templates] = problems
	}
	if localRegistry {
		raws, problems := registryProblems(cfg.registry)
		byPlace[cfg.registry] = append(byPlace[cfg.registry], problems...)
		if localTemplates {
			// Every fragment id is registered, as validate -registry checks.
			byPlace[cfg.templates] = append(byPlace[cfg.templates], checkFragments(cfg.templates, set, raws, cfg.registry)...)
		}
	}
	err := problemsError(byPlace)
	if err == nil {
		return nil
	}
	places := []string{cfg.templates}
	if cfg.registry != cfg.templates { // each problem once, even when both name one path
		places = append(places, cfg.registry)
	}
	for _, place := range places {
		for _, p := range byPlace[place] {
			fmt.Fprintln(stderr, p)
		}
	}
	return fmt.Errorf("not serving: %w (fix them, or set COMPOSER_DEV=true or -dev to serve and reload while you do)", err)
}

// newComposer builds what serves pages: the fragment transports (HTTP,
// Lambda, Step Functions), the fragment cache, tracing, the stream
// composer and the page server. The returned func flushes and closes them.
func newComposer(ctx context.Context, cfg *config, getenv func(string) string, log *slog.Logger, metrics prometheus.Registerer,
	clients *awsClients, reg *registry.Registry, mounts map[string]http.Handler, notices func() []string) (*server.Server, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	httpFetch := fetch.NewHTTP()
	httpFetch.AllowHosts(cfg.allowedHosts)
	closers = append(closers, httpFetch.Close)
	tp, stopTracing, err := newTracing(ctx, getenv)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	closers = append(closers, func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("traces not flushed", slog.String("error", err.Error()))
		}
	})
	var tracer trace.Tracer // nil: no spans, the caller's traceparent passes through
	if tp != nil {
		tracer = tp.Tracer("github.com/ssr-mfe/composer")
	}
	pageMetrics := server.NewMetrics(metrics)
	var transport fetch.Transport = &fetch.Mux{
		HTTP:          httpFetch,
		Lambda:        fetch.NewLambda(clients.lambda),
		StepFunctions: fetch.NewStepFunctions(clients.sfn),
		Override:      overrideTransport(cfg, log, &closers),
	}
	// Cache, then bulkhead and breaker, then hedging, then the transport:
	// a cache hit never waits for a slot nor counts in a breaker, and the
	// breaker sees one request however many the hedging sent, asked first
	// (Admit) whether a hedge may go.
	var guard *breaker.Transport
	hedged := hedge.New(transport, hedge.Options{Registry: reg, Metrics: metrics,
		Admit: func(req *fetch.Request) (func(), error) { return guard.Admit(req) }})
	guard = breaker.New(hedged, breaker.Options{Registry: reg, Log: log, Metrics: metrics})
	transport = guard
	if cfg.cacheBytes > 0 {
		fragmentCache := cache.New(transport, cfg.cacheBytes, pageMetrics.CacheResult)
		closers = append(closers, fragmentCache.Wait)
		transport = fragmentCache
	}
	composer := &stream.Composer{
		Observer:         pageMetrics,
		Tracer:           tracer,
		Fetch:            transport,
		Breakers:         guard, // the debug view shows their states
		CDNKey:           cfg.cdnKeyHeaders,
		PublicOrigin:     cfg.publicOrigin,
		Registry:         reg,
		Log:              log,
		Timeout:          cfg.fragmentTimeout,
		MaxFragmentBytes: cfg.maxFragment,
		FlushDelay:       cfg.flushDelay,
	}
	csp := cfg.csp
	if csp == "" && cfg.templates == "" {
		csp = demoCSP // the demo shows that a strict policy works
	}
	srv := server.New(server.Options{
		Log: log, Composer: composer, Registry: reg, Mounts: mounts, CSP: csp, Metrics: pageMetrics, Tracer: tracer,
		WriteTimeout: cfg.writeTimeout, RetryAfter: cfg.refresh, Notices: notices, MaxPages: cfg.maxPages,
		OverrideKey: cfg.overrideKey,
	})
	return srv, closeAll, nil
}

// pageServer is what listen serves: the page server, or the dev mode
// around it.
type pageServer interface {
	http.Handler
	Templates() *template.Set
}

// listen serves the admin listener and the public one, refreshes the
// sources every cfg.refresh, and on ctx's end shuts down: no new
// connections, pages in flight finish within cfg.shutdownTimeout.
func listen(ctx context.Context, cfg *config, log *slog.Logger, srv pageServer, src *sources, metrics *prometheus.Registry) error {
	if cfg.adminNote != "" {
		log.Info(cfg.adminNote, slog.String("addr", cfg.adminAddr))
	}
	if cfg.adminAddr != "" {
		closeAdmin, err := serveAdmin(cfg.adminAddr, log, metrics, src, cfg.listeners)
		if err != nil {
			return fmt.Errorf("%s: %w", cfg.namedValue(cfg.adminFrom, cfg.adminAddr), err)
		}
		defer closeAdmin()
	}
	l, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.namedValue("COMPOSER_ADDR", cfg.addr), err)
	}
	cfg.listeners.Add(l.Addr()) // overrides never reach it
	hs := &http.Server{
		Handler: srv,
		// Slow-loris protection. No WriteTimeout, which would bound the
		// whole response and cut long streams: the server gives every
		// write its own deadline (COMPOSER_WRITE_TIMEOUT) instead.
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(l) }()
	log.Info("listening", append([]any{slog.String("addr", l.Addr().String())}, pageAttrs(l.Addr(), srv.Templates())...)...)
	if d, ok := srv.(*devServer); ok {
		d.listening(l.Addr())
	}

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
	log.Info("shutting down: no new connections; finishing pages in flight", slog.Int64("grace_ms", cfg.shutdownTimeout.Milliseconds()))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("shutdown: pages still in flight after %s: %w", cfg.shutdownTimeout, err)
	}
	log.Info("stopped")
	return nil
}

// serveAdmin starts the admin listener: metrics, profiles and the
// sources' status, for Prometheus or the CloudWatch agent inside the
// network, never for the public (the load balancer reaches only
// cfg.addr).
func serveAdmin(addr string, log *slog.Logger, metrics *prometheus.Registry, src *sources, own *fetch.Listeners) (func(), error) {
	dl, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	own.Add(dl.Addr()) // overrides never reach it
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(src.status())
	})
	ds := &http.Server{Handler: adminHosts(addr, mux), ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() { _ = ds.Serve(dl) }()
	log.Info("admin listener", slog.String("addr", dl.Addr().String()))
	return func() { _ = ds.Close() }, nil
}

// demoCSP is the demo's policy: nothing inline but the composer's own
// scripts, allowed by their hashes, and what they insert ('strict-dynamic':
// every script that runs is re-created by the activator, package inert;
// 'self' only for browsers without 'strict-dynamic', which ignore it).
const demoCSP = "default-src 'self'; script-src 'self' 'strict-dynamic' {hashes}; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"

// pageAttrs say, on the start-up line, where a browser finds a page of
// set on the listener at a: the url of its first route that has no
// parameter or wildcard; else its first route as a pattern (first_route),
// not as a URL that would answer 404; with no set loaded yet, that pages
// wait for a good load.
func pageAttrs(a net.Addr, set *template.Set) []any {
	if set == nil {
		return []any{slog.String("waiting", "for a good load of templates and registry: pages answer 503 until then")}
	}
	ta, ok := a.(*net.TCPAddr)
	if !ok || len(set.Routes) == 0 {
		return nil
	}
	host := "localhost"
	if !ta.IP.IsUnspecified() && !ta.IP.IsLoopback() {
		host = ta.IP.String()
	}
	for _, r := range set.Routes {
		if !strings.ContainsAny(r.Pattern, "{*") {
			return []any{slog.String("url", fmt.Sprintf("http://%s%s", net.JoinHostPort(host, fmt.Sprint(ta.Port)), r.Pattern))}
		}
	}
	return []any{slog.String("first_route", set.Routes[0].Pattern)}
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
