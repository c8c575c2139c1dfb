package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
)

// config is every setting of the server. Each has an environment variable
// and a flag of the same meaning; the flag wins.
type config struct {
	addr            string
	templates       string
	registry        string
	dev             bool
	watch           bool              // composer dev: watch the folder and registry file, reload open pages
	devOut          io.Writer         // composer dev: where it says which page to open
	devOverrides    map[string]string // composer dev: fragment id -> endpoint, over the registry's
	refresh         time.Duration
	regFullRefresh  time.Duration
	fragmentTimeout time.Duration
	shutdownTimeout time.Duration
	writeTimeout    time.Duration
	flushDelay      time.Duration
	snapshotDir     string
	csp             string
	allowedHosts    []string
	overrideKey     []byte   // signed per-request overrides: their key (nil: off); never logged
	overrideHosts   []string // where overrides may point
	maxFragment     int64
	cacheBytes      int64
	maxPages        int
	cdnKeyHeaders   []string
	publicOrigin    string // the site's origin as visitors reach it: Podium's mount origin
	adminAddr       string
	adminNote       string // how adminAddr was chosen, when the alias was involved
	adminFrom       string // the variable adminAddr came from: COMPOSER_ADMIN_ADDR or its alias
	proxies         map[string]*url.URL
	listeners       *fetch.Listeners // the addresses listened on, filled as they start: overrides never reach them
	logFormat       string
	logLevel        slog.Level
	flagsSet        map[string]bool // the flags on the command line, by name
}

// named is how the user wrote the setting env: "-refresh" when its flag
// was on the command line, else the variable's name. Errors say it so
// that the user finds what they typed.
func (c *config) named(env string) string {
	for _, s := range settings {
		if s.env == env && c.flagsSet[s.flag] {
			return "-" + s.flag
		}
	}
	return env
}

// assign is named followed by what comes before the value: "-refresh "
// or "COMPOSER_REFRESH=".
func (c *config) assign(env string) string {
	if n := c.named(env); n != env {
		return n + " "
	}
	return env + "="
}

// namedValue is named with the value: -refresh "abc" or COMPOSER_REFRESH="abc".
func (c *config) namedValue(env, value string) string {
	return fmt.Sprintf("%s%q", c.assign(env), value)
}

// setting describes one configuration entry, for flags, env and the README.
type setting struct {
	env, flag, def, usage string
	boolean               bool // a flag that needs no value: -dev
}

var settings = []setting{
	{"COMPOSER_ADDR", "addr", ":8080", "listen address", false},
	{"COMPOSER_TEMPLATES", "templates", "", "templates: s3://bucket/prefix/ or a local folder (default: the embedded demo)", false},
	{"COMPOSER_REGISTRY", "registry", "", "registry: ssm:/prefix/ or a local JSON file (default: the embedded demo)", false},
	{"COMPOSER_DEV", "dev", "false", "development mode: a local template folder or registry file with problems is served anyway (pages answer 503 until it first loads) and reloaded as you fix it; without it, such a folder or file stops the process at start-up with the problems validate prints", true},
	{"COMPOSER_REFRESH", "refresh", "30s", "how often templates and registry are re-read", false},
	{"COMPOSER_REGISTRY_FULL_REFRESH", "registry-full-refresh", "10m", "with an ssm: registry, the longest time between two reads of the whole registry even though its change marker did not change (a safety net for writes that did not bump it)", false},
	{"COMPOSER_FRAGMENT_TIMEOUT", "fragment-timeout", "2s", "a fragment's total deadline when neither its element nor its registry entry sets one", false},
	{"COMPOSER_FLUSH_DELAY", "flush-delay", "0s", "after the page head (always flushed at once), how long written bytes may wait for more before a flush; 0 flushes at every fragment boundary", false},
	{"COMPOSER_MAX_FRAGMENT_BYTES", "max-fragment-bytes", "4194304", "a fragment body longer than this is cut (and its fallback shown if nothing was sent yet)", false},
	{"COMPOSER_CACHE_BYTES", "cache-bytes", "67108864", "memory for the fragment cache (bodies, least recently used out); 0 turns it off", false},
	{"COMPOSER_MAX_PAGES", "max-pages", "2000", "pages in flight at once in this process; a page beyond it gets 503 with Retry-After at once, before any fragment is asked (never /healthz, /readyz or the admin listener); 0 turns it off", false},
	{"COMPOSER_CDN_KEY_HEADERS", "cdn-key-headers", "", "comma-separated request headers the CDN in front keys its page cache on besides path and query (keep equal to its cache policy; the CDK stack sets both); a page using a fragment answer that varies on another header is private", false},
	{"COMPOSER_PUBLIC_ORIGIN", "public-origin", "", "the site's origin as visitors reach it (https://shop.example), sent as podium-mount-origin to entries with \"podium\"; never taken from the request's Host, which behind a CDN is the load balancer's", false},
	{"COMPOSER_WRITE_TIMEOUT", "write-timeout", "30s", "the deadline of each write of a response: a client that accepts none of it for this long is dropped and its page's fragment requests cancelled (each write gets its own, so long streams are not cut)", false},
	{"COMPOSER_SHUTDOWN_TIMEOUT", "shutdown-timeout", "25s", "on SIGTERM, how long pages in flight may take to finish (keep it under the ECS stop timeout)", false},
	{"COMPOSER_SNAPSHOT_DIR", "snapshot-dir", "", "folder where every good load of templates and registry is written, and read at start-up when S3 or SSM is down", false},
	{"COMPOSER_ALLOWED_HOSTS", "allowed-hosts", "", "comma-separated hosts that HTTP fragment endpoints may point to (\"name\" or \"*.domain\"); empty allows any", false},
	{"COMPOSER_OVERRIDE_KEY", "", "", "the key that signs per-request fragment overrides (composer override), at least 32 bytes; from the environment only, never a flag (a command line is visible to every user of the machine); empty turns overrides off", false},
	{"COMPOSER_OVERRIDE_HOSTS", "override-hosts", "", "comma-separated hosts that overrides may point to (\"name\" or \"*.domain\"); required with COMPOSER_OVERRIDE_KEY", false},
	{"COMPOSER_CSP", "csp", "", "Content-Security-Policy of pages; {hashes} becomes the hashes of the composer's inline scripts, e.g. script-src 'self' 'strict-dynamic' {hashes} (default: none; the demo sets a strict one)", false},
	{"COMPOSER_PROXY", "proxy", "", "comma-separated PATH_PREFIX=URL pairs served by reverse proxy beside the pages, as CDN behaviours would route them (e.g. /static/=http://assets:9000)", false},
	{"COMPOSER_ADMIN_ADDR", "admin-addr", ":9090", "the admin listener: /metrics, /status and /debug/pprof/, never on the public one (keep it private: a port the load balancer does not reach)", false},
	{"COMPOSER_DEBUG_ADDR", "debug-addr", "", "the former name of COMPOSER_ADMIN_ADDR, still read; when both are set COMPOSER_ADMIN_ADDR wins", false},
	{"COMPOSER_LOG_FORMAT", "log-format", "auto", "log format: json, text, or auto (text on a terminal, else JSON)", false},
	{"COMPOSER_LOG_LEVEL", "log-level", "info", "log level: debug, info, warn, error", false},
}

// parseConfig reads the environment, then the flags in args.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("composer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	var errs []error
	for _, s := range settings {
		def := s.def
		if v := getenv(s.env); v != "" {
			def = v
		}
		vals[s.env] = &def
		if s.flag == "" { // a secret: the environment only
			continue
		}
		if s.boolean {
			fs.Var((*boolText)(vals[s.env]), s.flag, s.usage+" ($"+s.env+")")
			continue
		}
		fs.StringVar(vals[s.env], s.flag, def, s.usage+" ($"+s.env+")")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer [flags]\n       composer SUBCOMMAND [flags] ARGS...\n\nServes pages composed from fragments (the embedded demo when nothing is configured).\n\n")
		commandsUsage(stderr)
		fmt.Fprintf(stderr, "\nflags (each also read from the environment variable named after it):\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nfrom the environment only:\n")
		for _, s := range settings {
			if s.flag == "" {
				fmt.Fprintf(stderr, "  %s\n    \t%s\n", s.env, s.usage)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; see composer -h", fs.Arg(0))
	}
	c := &config{
		flagsSet:    map[string]bool{},
		listeners:   &fetch.Listeners{},
		addr:        *vals["COMPOSER_ADDR"],
		templates:   *vals["COMPOSER_TEMPLATES"],
		registry:    *vals["COMPOSER_REGISTRY"],
		logFormat:   *vals["COMPOSER_LOG_FORMAT"],
		snapshotDir: *vals["COMPOSER_SNAPSHOT_DIR"],
		csp:         *vals["COMPOSER_CSP"],
		adminAddr:   *vals["COMPOSER_ADMIN_ADDR"],
		adminFrom:   "COMPOSER_ADMIN_ADDR",
	}
	fs.Visit(func(f *flag.Flag) { c.flagsSet[f.Name] = true })
	if dev, err := strconv.ParseBool(*vals["COMPOSER_DEV"]); err != nil {
		errs = append(errs, fmt.Errorf("%s: want true or false", c.namedValue("COMPOSER_DEV", *vals["COMPOSER_DEV"])))
	} else {
		c.dev = dev
	}
	// COMPOSER_DEBUG_ADDR is an alias of COMPOSER_ADMIN_ADDR, which wins.
	if debug := *vals["COMPOSER_DEBUG_ADDR"]; debug != "" {
		adminSet := getenv("COMPOSER_ADMIN_ADDR") != "" || c.flagsSet["admin-addr"]
		if adminSet {
			c.adminNote = "COMPOSER_ADMIN_ADDR and COMPOSER_DEBUG_ADDR both set: the admin listener is on COMPOSER_ADMIN_ADDR"
		} else {
			c.adminAddr, c.adminFrom = debug, "COMPOSER_DEBUG_ADDR"
			c.adminNote = "COMPOSER_DEBUG_ADDR is the former name of COMPOSER_ADMIN_ADDR: the admin listener is on it"
		}
	}
	for env, addr := range map[string]string{"COMPOSER_ADDR": c.addr, c.adminFrom: c.adminAddr} {
		if err := checkListenAddr(addr); err != nil && (addr != "" || env == "COMPOSER_ADDR") {
			errs = append(errs, fmt.Errorf("%s: %w", c.namedValue(env, addr), err))
		}
	}
	if v := *vals["COMPOSER_PROXY"]; v != "" {
		c.proxies = map[string]*url.URL{}
		for _, pair := range strings.Split(v, ",") {
			prefix, target, ok := strings.Cut(strings.TrimSpace(pair), "=")
			u, err := url.Parse(target)
			if !ok || !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s: %q: want /prefix/=http://host:port", c.named("COMPOSER_PROXY"), pair))
				continue
			}
			c.proxies[prefix] = u
		}
	}
	var err error
	if c.allowedHosts, err = c.hostList("COMPOSER_ALLOWED_HOSTS", *vals["COMPOSER_ALLOWED_HOSTS"]); err != nil {
		errs = append(errs, err)
	}
	if c.overrideHosts, err = c.hostList("COMPOSER_OVERRIDE_HOSTS", *vals["COMPOSER_OVERRIDE_HOSTS"]); err != nil {
		errs = append(errs, err)
	}
	if v := *vals["COMPOSER_OVERRIDE_KEY"]; v != "" {
		if c.overrideKey, err = overrideKey(v); err != nil {
			errs = append(errs, fmt.Errorf("COMPOSER_OVERRIDE_KEY: %w", err))
		} else if len(c.overrideHosts) == 0 {
			errs = append(errs, errors.New("COMPOSER_OVERRIDE_KEY is set but COMPOSER_OVERRIDE_HOSTS is empty: name the hosts overrides may point to (e.g. *.preview.internal), or unset the key to turn overrides off"))
		}
	}
	if strings.Contains(c.registry, "://") && !isSSM(c.registry) {
		errs = append(errs, fmt.Errorf("%s: want ssm:/prefix/ or a local JSON file", c.namedValue("COMPOSER_REGISTRY", c.registry)))
	}
	duration := func(env string, dst *time.Duration) {
		d, err := time.ParseDuration(*vals[env])
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration such as 30s", c.namedValue(env, *vals[env])))
			return
		}
		*dst = d
	}
	duration("COMPOSER_REFRESH", &c.refresh)
	duration("COMPOSER_REGISTRY_FULL_REFRESH", &c.regFullRefresh)
	duration("COMPOSER_FRAGMENT_TIMEOUT", &c.fragmentTimeout)
	duration("COMPOSER_SHUTDOWN_TIMEOUT", &c.shutdownTimeout)
	duration("COMPOSER_WRITE_TIMEOUT", &c.writeTimeout)
	if d, err := time.ParseDuration(*vals["COMPOSER_FLUSH_DELAY"]); err != nil || d < 0 || d > time.Second {
		errs = append(errs, fmt.Errorf("%s: want a duration from 0 to 1s", c.namedValue("COMPOSER_FLUSH_DELAY", *vals["COMPOSER_FLUSH_DELAY"])))
	} else {
		c.flushDelay = d
	}
	if n, err := strconv.ParseInt(*vals["COMPOSER_MAX_FRAGMENT_BYTES"], 10, 64); err != nil || n < 1024 {
		errs = append(errs, fmt.Errorf("%s: want a number of bytes, at least 1024", c.namedValue("COMPOSER_MAX_FRAGMENT_BYTES", *vals["COMPOSER_MAX_FRAGMENT_BYTES"])))
	} else {
		c.maxFragment = n
	}
	if n, err := strconv.ParseInt(*vals["COMPOSER_CACHE_BYTES"], 10, 64); err != nil || n < 0 {
		errs = append(errs, fmt.Errorf("%s: want a number of bytes (0 turns the cache off)", c.namedValue("COMPOSER_CACHE_BYTES", *vals["COMPOSER_CACHE_BYTES"])))
	} else {
		c.cacheBytes = n
	}
	if n, err := strconv.Atoi(*vals["COMPOSER_MAX_PAGES"]); err != nil || n < 0 {
		errs = append(errs, fmt.Errorf("%s: want a number of pages (0 turns shedding off)", c.namedValue("COMPOSER_MAX_PAGES", *vals["COMPOSER_MAX_PAGES"])))
	} else {
		c.maxPages = n
	}
	for _, name := range strings.Split(*vals["COMPOSER_CDN_KEY_HEADERS"], ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
		case strings.ContainsFunc(name, notHeaderNameRune):
			errs = append(errs, fmt.Errorf("%s: %q is not a header name", c.named("COMPOSER_CDN_KEY_HEADERS"), name))
		default:
			c.cdnKeyHeaders = append(c.cdnKeyHeaders, http.CanonicalHeaderKey(name))
		}
	}
	if v := *vals["COMPOSER_PUBLIC_ORIGIN"]; v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("%s: want an origin such as https://shop.example (scheme and host, no path)", c.namedValue("COMPOSER_PUBLIC_ORIGIN", v)))
		} else {
			c.publicOrigin = u.Scheme + "://" + u.Host
		}
	}
	if strings.HasPrefix(c.registry, "ssm:") {
		if _, err := ssmregistry.ParseURI(c.registry); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.named("COMPOSER_REGISTRY"), err))
		}
	}
	if strings.Contains(c.csp, "{nonce}") {
		errs = append(errs, errors.New(c.named("COMPOSER_CSP")+": {nonce} is no longer supported (a nonce in a page a CDN keeps is shared by all its visitors); the composer's scripts are allowed by hash: write {hashes} where 'nonce-{nonce}' was"))
	}
	switch c.logFormat {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("%s: want json, text or auto", c.namedValue("COMPOSER_LOG_FORMAT", c.logFormat)))
	}
	if err := c.logLevel.UnmarshalText([]byte(*vals["COMPOSER_LOG_LEVEL"])); err != nil {
		errs = append(errs, fmt.Errorf("%s: want debug, info, warn or error", c.namedValue("COMPOSER_LOG_LEVEL", *vals["COMPOSER_LOG_LEVEL"])))
	}
	return c, errors.Join(errs...)
}

// hostList reads a comma-separated list of host patterns ("name" or
// "*.domain"), the form of COMPOSER_ALLOWED_HOSTS and
// COMPOSER_OVERRIDE_HOSTS; empty entries are skipped.
func (c *config) hostList(env, v string) ([]string, error) {
	var hosts []string
	var errs []error
	for _, h := range strings.Split(v, ",") {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case strings.ContainsAny(h, "/@?#") || strings.ContainsFunc(h, unicode.IsSpace):
			errs = append(errs, fmt.Errorf("%s: %q: want a host name (\"name\" or \"*.domain\"), without scheme or path", c.named(env), h))
		case !validHostPattern(h):
			errs = append(errs, fmt.Errorf("%s: %q: want a host name (\"name\") or \"*.domain\" (every name below domain, such as *.preview.internal); \"*\" may only lead, followed by a dot and a domain", c.named(env), h))
		default:
			hosts = append(hosts, h)
		}
	}
	return hosts, errors.Join(errs...)
}

// validHostPattern reports whether h, without scheme or path, is a host
// pattern: a name with no "*", or "*." followed by a domain (not empty,
// without "*", not starting or ending with a dot).
func validHostPattern(h string) bool {
	domain, wild := strings.CutPrefix(h, "*.")
	return !strings.Contains(domain, "*") && (!wild || domain != "" && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, "."))
}

// overrideKey is the override key of COMPOSER_OVERRIDE_KEY or a key file:
// its bytes, surrounding whitespace (spaces, tabs, newlines) trimmed the
// same way for both, so that the command and the composer agree; at least
// override.MinKeyLen. Its errors never hold the key.
func overrideKey(raw string) ([]byte, error) {
	k := strings.TrimSpace(raw)
	if len(k) < override.MinKeyLen {
		return nil, fmt.Errorf("%d bytes, want at least %d (e.g. the output of openssl rand -base64 48)", len(k), override.MinKeyLen)
	}
	return []byte(k), nil
}

// checkListenAddr reports what is wrong with addr as a listen address
// (host:port, the host optional), before anything starts.
func checkListenAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port or :port, e.g. :8080 or 127.0.0.1:8080")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil {
		if _, err := net.LookupPort("tcp", port); err != nil || n > 0 {
			return fmt.Errorf("port %q: want a number from 0 to 65535", port)
		}
	}
	return nil
}

// boolText is a boolean flag (-dev, -dev=false) kept as text, so that a
// bad value is reported as every other setting's is.
type boolText string

func (b *boolText) String() string     { return string(*b) }
func (b *boolText) Set(v string) error { *b = boolText(v); return nil }
func (b *boolText) IsBoolFlag() bool   { return true }

// notHeaderNameRune is a rune that header names in the CDN's key cannot have.
func notHeaderNameRune(r rune) bool {
	return !(r == '-' || r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z')
}

// newLogger builds the one logger of the process.
func newLogger(c *config, stderr io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.logLevel}
	format := c.logFormat
	if format == "auto" {
		format = "json"
		if f, ok := stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(stderr, opts))
}
