// Package settings reads the composer's settings: every COMPOSER_ variable
// and the flag of the same meaning (the flag wins), checked all at once
// before anything starts, each error naming the setting as the user wrote it.
//
//	environment, flags --Parse--> *Config --> the server's wiring, composer dev, the subcommands
package settings

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
	"github.com/ssr-mfe/composer/composer/inert"
	"github.com/ssr-mfe/composer/composer/internal/gcpace"
	"github.com/ssr-mfe/composer/composer/island"
	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
)

// Config is every setting of the server. Each has an environment variable
// and a flag of the same meaning; the flag wins.
type Config struct {
	Addr                string
	Templates           string
	Registry            string
	Dev                 bool
	Watch               bool              // composer dev: watch the folder and registry file, reload open pages
	DevOut              io.Writer         // composer dev: where it says which page to open
	DevOverrides        map[string]string // composer dev: fragment id -> endpoint, over the registry's
	Refresh             time.Duration
	RegistryFullRefresh time.Duration
	FragmentTimeout     time.Duration
	ShutdownTimeout     time.Duration
	WriteTimeout        time.Duration
	FlushDelay          time.Duration
	SnapshotDir         string
	CSP                 string
	AllowedHosts        []string
	OverrideKey         []byte       // signed per-request overrides: their key (nil: off); never logged
	OverrideHosts       []string     // where overrides may point
	Islands             *island.Ring // signs and checks island requests (nil: client slots show their fallback); never logged
	MaxFragmentBytes    int64
	CacheBytes          int64
	CompressorBytes     int64
	MaxPages            int
	GCHeadroom          int64
	CDNKeyHeaders       []string
	PublicOrigin        string // the site's origin as visitors reach it: Podium's mount origin
	AdminAddr           string
	AdminNote           string // how adminAddr was chosen, when the alias was involved
	AdminFrom           string // the variable adminAddr came from: COMPOSER_ADMIN_ADDR or its alias
	AdminDefault        bool   // AdminAddr is DefaultAdminAddr, named by no setting: when taken, a free loopback port will do
	Proxies             map[string]*url.URL
	Listeners           *fetch.Listeners // the addresses listened on, filled as they start: overrides never reach them
	LogFormat           string
	LogLevel            slog.Level
	FlagsSet            map[string]bool // the flags on the command line, by name
}

// Named is how the user wrote the setting env: "-refresh" when its flag
// was on the command line, else the variable's name. Errors say it so
// that the user finds what they typed.
func (c *Config) Named(env string) string {
	for _, s := range All {
		if s.Env == env && c.FlagsSet[s.Flag] {
			return "-" + s.Flag
		}
	}
	return env
}

// Assign is Named followed by what comes before the value: "-refresh "
// or "COMPOSER_REFRESH=".
func (c *Config) Assign(env string) string {
	if n := c.Named(env); n != env {
		return n + " "
	}
	return env + "="
}

// NamedValue is Named with the value: -refresh "abc" or COMPOSER_REFRESH="abc".
func (c *Config) NamedValue(env, value string) string {
	return fmt.Sprintf("%s%q", c.Assign(env), value)
}

// Setting describes one configuration entry, for flags, env and the README.
type Setting struct {
	Env, Flag, Default, Usage string
	Boolean                   bool // a flag that needs no value: -dev
}

var All = []Setting{
	{"COMPOSER_ADDR", "addr", "", "listen address (default: " + DemoAddr + " for the demo, when neither COMPOSER_TEMPLATES nor COMPOSER_REGISTRY is set; else :8080)", false},
	{"COMPOSER_TEMPLATES", "templates", "", "templates: s3://bucket/prefix/ or a local folder (default: the embedded demo)", false},
	{"COMPOSER_REGISTRY", "registry", "", "registry: ssm:/prefix/ or a local JSON file (default: the embedded demo)", false},
	{"COMPOSER_DEV", "dev", "false", "development mode: a local template folder or registry file with problems is served anyway (pages answer 503 until it first loads) and reloaded as you fix it; without it, such a folder or file stops the process at start-up with the problems validate prints", true},
	{"COMPOSER_REFRESH", "refresh", "30s", "how often templates and registry are re-read", false},
	{"COMPOSER_REGISTRY_FULL_REFRESH", "registry-full-refresh", "10m", "with an ssm: registry, the longest time between two reads of the whole registry even though its change marker did not change (a safety net for writes that did not bump it)", false},
	{"COMPOSER_FRAGMENT_TIMEOUT", "fragment-timeout", "2s", "a fragment's deadline when neither its element nor its registry entry sets one: its time to headers plus the time the composer waits on its body, never the time its body waits for the page writer", false},
	{"COMPOSER_FLUSH_DELAY", "flush-delay", "1ms", "after the page head (always flushed at once), how long written bytes may wait for more before a flush: one write per burst of fragments instead of one per fragment boundary; 0 flushes at every boundary", false},
	{"COMPOSER_MAX_FRAGMENT_BYTES", "max-fragment-bytes", "4194304", "a fragment body longer than this is cut (and its fallback shown if nothing was sent yet)", false},
	{"COMPOSER_CACHE_BYTES", "cache-bytes", "67108864", "memory for the fragment cache (bodies, least recently used out); 0 turns it off", false},
	{"COMPOSER_COMPRESSOR_BYTES", "compressor-bytes", "33554432", "memory the pages' compressors may hold at once (about 1.4 MB a brotli page, 1.1 MB a gzip page, for as long as it streams); a page past it gets light gzip, which holds nothing between its flushes, or no compression for a client that takes only brotli; 0: every page light", false},
	{"COMPOSER_MAX_PAGES", "max-pages", "2000", "pages in flight at once in this process; a page beyond it gets 503 with Retry-After at once, before any fragment is asked (never /healthz, /readyz or the admin listener); 0 turns it off", false},
	{"COMPOSER_GC_HEADROOM", "gc-headroom", "25165824", "while the live heap is smaller than this, the Go collector's next cycle waits until the heap has grown by this much (GOGC raised for it), not until it has doubled: fewer collections for a busy process with little live; past it GOGC applies as set; at most 64 GiB; 0 leaves GOGC alone", false},
	{"COMPOSER_CDN_KEY_HEADERS", "cdn-key-headers", "", "comma-separated request headers the CDN in front keys its page cache on besides path and query (keep equal to its cache policy; the CDK stack sets both); a page using a fragment answer that varies on another header is private", false},
	{"COMPOSER_PUBLIC_ORIGIN", "public-origin", "", "the site's origin as visitors reach it (https://shop.example), sent as podium-mount-origin to entries with \"podium\"; never taken from the request's Host, which behind a CDN is the load balancer's", false},
	{"COMPOSER_WRITE_TIMEOUT", "write-timeout", "30s", "the deadline of each write of a response: a client that accepts none of it for this long is dropped and its page's fragment requests cancelled (each write gets its own, so long streams are not cut)", false},
	{"COMPOSER_SHUTDOWN_TIMEOUT", "shutdown-timeout", "25s", "on SIGTERM, how long pages in flight may take to finish (keep it under the ECS stop timeout)", false},
	{"COMPOSER_SNAPSHOT_DIR", "snapshot-dir", "", "folder where every good load of templates and registry is written, and read at start-up when S3 or SSM is down", false},
	{"COMPOSER_ALLOWED_HOSTS", "allowed-hosts", "", "comma-separated hosts that HTTP fragment endpoints may point to (\"name\" or \"*.domain\"); empty allows any", false},
	{"COMPOSER_OVERRIDE_KEY", "", "", "the key that signs per-request fragment overrides (composer override), at least 32 bytes; from the environment only, never a flag (a command line is visible to every user of the machine); empty turns overrides off", false},
	{"COMPOSER_OVERRIDE_HOSTS", "override-hosts", "", "comma-separated hosts that overrides may point to (\"name\" or \"*.domain\"); required with COMPOSER_OVERRIDE_KEY", false},
	{"COMPOSER_ISLAND_KEYS", "", "", "the island key ring: comma-separated id=secret pairs (each secret at least 32 bytes) that sign and check the browser's island requests for client slots; every task gets the same ring; from the environment only; never the override key; empty: client slots show their fallback", false},
	{"COMPOSER_ISLAND_KEY_ID", "island-key-id", "", "the id of the key of COMPOSER_ISLAND_KEYS that signs (the others are still accepted, so keys rotate without breaking cached pages or a rolling deploy); may be left empty when the ring has one key", false},
	{"COMPOSER_CSP", "csp", "", "Content-Security-Policy of pages; {hashes} becomes the hashes of the composer's inline scripts, e.g. script-src 'self' 'strict-dynamic' {hashes} (default: none; the demo sets a strict one)", false},
	{"COMPOSER_PROXY", "proxy", "", "comma-separated PATH_PREFIX=URL pairs served by reverse proxy beside the pages, as CDN behaviours would route them (e.g. /static/=http://assets:9000)", false},
	{"COMPOSER_ADMIN_ADDR", "admin-addr", DefaultAdminAddr, "the admin listener: /metrics, /status and /debug/pprof/, never on the public one (keep it private: a port the load balancer does not reach); unset and taken, a free loopback port is used instead", false},
	{"COMPOSER_DEBUG_ADDR", "debug-addr", "", "the former name of COMPOSER_ADMIN_ADDR, still read; when both are set COMPOSER_ADMIN_ADDR wins", false},
	{"COMPOSER_LOG_FORMAT", "log-format", "auto", "log format: json, text, or auto (text on a terminal, else JSON)", false},
	{"COMPOSER_LOG_LEVEL", "log-level", "info", "log level: debug, info, warn, error", false},
}

// Parse reads the environment, then the flags in args. subcommands, when
// not nil, lists the subcommands in the usage (composer -h).
func Parse(args []string, getenv func(string) string, stderr io.Writer, subcommands func(io.Writer)) (*Config, error) {
	fs := flag.NewFlagSet("composer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	vals := map[string]*string{}
	var errs []error
	for _, s := range All {
		def := s.Default
		if v := getenv(s.Env); v != "" {
			def = v
		}
		vals[s.Env] = &def
		if s.Flag == "" { // a secret: the environment only
			continue
		}
		if s.Boolean {
			fs.Var((*boolText)(vals[s.Env]), s.Flag, s.Usage+" ($"+s.Env+")")
			continue
		}
		fs.StringVar(vals[s.Env], s.Flag, def, s.Usage+" ($"+s.Env+")")
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: composer [flags]\n       composer SUBCOMMAND [flags] ARGS...\n\nServes pages composed from fragments (the embedded demo when nothing is configured).\n\n")
		if subcommands != nil {
			subcommands(stderr)
		}
		fmt.Fprintf(stderr, "\nflags (each also read from the environment variable named after it):\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nfrom the environment only:\n")
		for _, s := range All {
			if s.Flag == "" {
				fmt.Fprintf(stderr, "  %s\n    \t%s\n", s.Env, s.Usage)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; see composer -h", fs.Arg(0))
	}
	c := &Config{
		FlagsSet:    map[string]bool{},
		Listeners:   &fetch.Listeners{},
		Addr:        *vals["COMPOSER_ADDR"],
		Templates:   *vals["COMPOSER_TEMPLATES"],
		Registry:    *vals["COMPOSER_REGISTRY"],
		LogFormat:   *vals["COMPOSER_LOG_FORMAT"],
		SnapshotDir: *vals["COMPOSER_SNAPSHOT_DIR"],
		CSP:         *vals["COMPOSER_CSP"],
		AdminAddr:   *vals["COMPOSER_ADMIN_ADDR"],
		AdminFrom:   "COMPOSER_ADMIN_ADDR",
	}
	fs.Visit(func(f *flag.Flag) { c.FlagsSet[f.Name] = true })
	if dev, err := strconv.ParseBool(*vals["COMPOSER_DEV"]); err != nil {
		errs = append(errs, fmt.Errorf("%s: want true or false", c.NamedValue("COMPOSER_DEV", *vals["COMPOSER_DEV"])))
	} else {
		c.Dev = dev
	}
	// COMPOSER_DEBUG_ADDR is an alias of COMPOSER_ADMIN_ADDR, which wins.
	if debug := *vals["COMPOSER_DEBUG_ADDR"]; debug != "" {
		adminSet := getenv("COMPOSER_ADMIN_ADDR") != "" || c.FlagsSet["admin-addr"]
		if adminSet {
			c.AdminNote = "COMPOSER_ADMIN_ADDR and COMPOSER_DEBUG_ADDR both set: the admin listener is on COMPOSER_ADMIN_ADDR"
		} else {
			c.AdminAddr, c.AdminFrom = debug, "COMPOSER_DEBUG_ADDR"
			c.AdminNote = "COMPOSER_DEBUG_ADDR is the former name of COMPOSER_ADMIN_ADDR: the admin listener is on it"
		}
	}
	c.AdminDefault = c.AdminFrom == "COMPOSER_ADMIN_ADDR" && getenv("COMPOSER_ADMIN_ADDR") == "" && !c.FlagsSet["admin-addr"]
	if getenv("COMPOSER_ADDR") == "" && !c.FlagsSet["addr"] {
		// The demo answers on this machine only; a server of one's own
		// templates or registry on every interface, as it always has.
		c.Addr = DemoAddr
		if c.Templates != "" || c.Registry != "" {
			c.Addr = ":8080"
		}
	}
	listenOK := true
	for env, addr := range map[string]string{"COMPOSER_ADDR": c.Addr, c.AdminFrom: c.AdminAddr} {
		if err := checkListenAddr(addr); err != nil && (addr != "" || env == "COMPOSER_ADDR") {
			errs = append(errs, fmt.Errorf("%s: %w", c.NamedValue(env, addr), err))
			listenOK = false
		}
	}
	if listenOK && c.AdminAddr != "" && sameListenAddr(c.Addr, c.AdminAddr) {
		admin := c.NamedValue(c.AdminFrom, c.AdminAddr)
		if c.AdminDefault {
			admin = fmt.Sprintf("COMPOSER_ADMIN_ADDR (default %q)", c.AdminAddr)
		}
		errs = append(errs, fmt.Errorf("%s and %s: one address for two listeners: give the admin listener (metrics, profiles) an address of its own, or turn it off with -admin-addr ''", c.NamedValue("COMPOSER_ADDR", c.Addr), admin))
	}
	if v := *vals["COMPOSER_PROXY"]; v != "" {
		c.Proxies = map[string]*url.URL{}
		for _, pair := range strings.Split(v, ",") {
			prefix, target, ok := strings.Cut(strings.TrimSpace(pair), "=")
			u, err := url.Parse(target)
			if !ok || !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				errs = append(errs, fmt.Errorf("%s: %q: want /prefix/=http://host:port", c.Named("COMPOSER_PROXY"), pair))
				continue
			}
			c.Proxies[prefix] = u
		}
	}
	var err error
	if c.AllowedHosts, err = c.hostList("COMPOSER_ALLOWED_HOSTS", *vals["COMPOSER_ALLOWED_HOSTS"]); err != nil {
		errs = append(errs, err)
	}
	if c.OverrideHosts, err = c.hostList("COMPOSER_OVERRIDE_HOSTS", *vals["COMPOSER_OVERRIDE_HOSTS"]); err != nil {
		errs = append(errs, err)
	}
	if v := *vals["COMPOSER_OVERRIDE_KEY"]; v != "" {
		if c.OverrideKey, err = OverrideKey(v); err != nil {
			errs = append(errs, fmt.Errorf("COMPOSER_OVERRIDE_KEY: %w", err))
		} else if len(c.OverrideHosts) == 0 {
			errs = append(errs, errors.New("COMPOSER_OVERRIDE_KEY is set but COMPOSER_OVERRIDE_HOSTS is empty: name the hosts overrides may point to (e.g. *.preview.internal), or unset the key to turn overrides off"))
		}
	}
	if v := *vals["COMPOSER_ISLAND_KEYS"]; v != "" {
		if c.Islands, err = islandRing(v, *vals["COMPOSER_ISLAND_KEY_ID"], c.OverrideKey); err != nil {
			errs = append(errs, fmt.Errorf("COMPOSER_ISLAND_KEYS: %w", err))
		}
	} else if id := *vals["COMPOSER_ISLAND_KEY_ID"]; id != "" {
		errs = append(errs, fmt.Errorf("%s but COMPOSER_ISLAND_KEYS is empty: set the key ring, or unset the id", c.NamedValue("COMPOSER_ISLAND_KEY_ID", id)))
	}
	if strings.Contains(c.Registry, "://") && !IsSSM(c.Registry) {
		errs = append(errs, fmt.Errorf("%s: want ssm:/prefix/ or a local JSON file", c.NamedValue("COMPOSER_REGISTRY", c.Registry)))
	}
	duration := func(env string, dst *time.Duration) {
		d, err := time.ParseDuration(*vals[env])
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s: want a positive duration such as 30s", c.NamedValue(env, *vals[env])))
			return
		}
		*dst = d
	}
	duration("COMPOSER_REFRESH", &c.Refresh)
	duration("COMPOSER_REGISTRY_FULL_REFRESH", &c.RegistryFullRefresh)
	duration("COMPOSER_FRAGMENT_TIMEOUT", &c.FragmentTimeout)
	duration("COMPOSER_SHUTDOWN_TIMEOUT", &c.ShutdownTimeout)
	duration("COMPOSER_WRITE_TIMEOUT", &c.WriteTimeout)
	if d, err := time.ParseDuration(*vals["COMPOSER_FLUSH_DELAY"]); err != nil || d < 0 || d > time.Second {
		errs = append(errs, fmt.Errorf("%s: want a duration from 0 to 1s", c.NamedValue("COMPOSER_FLUSH_DELAY", *vals["COMPOSER_FLUSH_DELAY"])))
	} else {
		c.FlushDelay = d
	}
	if n, err := strconv.ParseInt(*vals["COMPOSER_MAX_FRAGMENT_BYTES"], 10, 64); err != nil || n < 1024 {
		errs = append(errs, fmt.Errorf("%s: want a number of bytes, at least 1024", c.NamedValue("COMPOSER_MAX_FRAGMENT_BYTES", *vals["COMPOSER_MAX_FRAGMENT_BYTES"])))
	} else {
		c.MaxFragmentBytes = n
	}
	if n, err := strconv.ParseInt(*vals["COMPOSER_CACHE_BYTES"], 10, 64); err != nil || n < 0 {
		errs = append(errs, fmt.Errorf("%s: want a number of bytes (0 turns the cache off)", c.NamedValue("COMPOSER_CACHE_BYTES", *vals["COMPOSER_CACHE_BYTES"])))
	} else {
		c.CacheBytes = n
	}
	if n, err := strconv.ParseInt(*vals["COMPOSER_COMPRESSOR_BYTES"], 10, 64); err != nil || n < 0 {
		errs = append(errs, fmt.Errorf("%s: want a number of bytes (0: every page light gzip)", c.NamedValue("COMPOSER_COMPRESSOR_BYTES", *vals["COMPOSER_COMPRESSOR_BYTES"])))
	} else {
		c.CompressorBytes = n
	}
	if n, err := strconv.Atoi(*vals["COMPOSER_MAX_PAGES"]); err != nil || n < 0 {
		errs = append(errs, fmt.Errorf("%s: want a number of pages (0 turns shedding off)", c.NamedValue("COMPOSER_MAX_PAGES", *vals["COMPOSER_MAX_PAGES"])))
	} else {
		c.MaxPages = n
	}
	if n, err := strconv.ParseInt(*vals["COMPOSER_GC_HEADROOM"], 10, 64); err != nil || n < 0 || n > gcpace.MaxHeadroom {
		errs = append(errs, fmt.Errorf("%s: want a number of bytes from 0 to %d (64 GiB; 0 leaves GOGC alone)", c.NamedValue("COMPOSER_GC_HEADROOM", *vals["COMPOSER_GC_HEADROOM"]), int64(gcpace.MaxHeadroom)))
	} else {
		c.GCHeadroom = n
	}
	for _, name := range strings.Split(*vals["COMPOSER_CDN_KEY_HEADERS"], ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
		case strings.ContainsFunc(name, notHeaderNameRune):
			errs = append(errs, fmt.Errorf("%s: %q is not a header name", c.Named("COMPOSER_CDN_KEY_HEADERS"), name))
		default:
			c.CDNKeyHeaders = append(c.CDNKeyHeaders, http.CanonicalHeaderKey(name))
		}
	}
	if v := *vals["COMPOSER_PUBLIC_ORIGIN"]; v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("%s: want an origin such as https://shop.example (scheme and host, no path)", c.NamedValue("COMPOSER_PUBLIC_ORIGIN", v)))
		} else {
			c.PublicOrigin = u.Scheme + "://" + u.Host
		}
	}
	if strings.HasPrefix(c.Registry, "ssm:") {
		if _, err := ssmregistry.ParseURI(c.Registry); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Named("COMPOSER_REGISTRY"), err))
		}
	}
	if d := scriptsBlocked(c.CSP); d != "" {
		errs = append(errs, errors.New(c.Named("COMPOSER_CSP")+": its "+d+" directive lets no script of the page run: every script is written inert and re-created by the composer's activator, which the policy allows by its hash; add {hashes} to "+d+" (e.g. script-src 'self' 'strict-dynamic' {hashes})"))
	}
	if strings.Contains(c.CSP, "{nonce}") {
		errs = append(errs, errors.New(c.Named("COMPOSER_CSP")+": {nonce} is no longer supported (a nonce in a page a CDN keeps is shared by all its visitors); the composer's scripts are allowed by hash: write {hashes} where 'nonce-{nonce}' was"))
	}
	switch c.LogFormat {
	case "auto", "json", "text":
	default:
		errs = append(errs, fmt.Errorf("%s: want json, text or auto", c.NamedValue("COMPOSER_LOG_FORMAT", c.LogFormat)))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*vals["COMPOSER_LOG_LEVEL"])); err != nil {
		errs = append(errs, fmt.Errorf("%s: want debug, info, warn or error", c.NamedValue("COMPOSER_LOG_LEVEL", *vals["COMPOSER_LOG_LEVEL"])))
	}
	return c, errors.Join(errs...)
}

// hostList reads a comma-separated list of host patterns ("name" or
// "*.domain"), the form of COMPOSER_ALLOWED_HOSTS and
// COMPOSER_OVERRIDE_HOSTS; empty entries are skipped.
func (c *Config) hostList(env, v string) ([]string, error) {
	var hosts []string
	var errs []error
	for _, h := range strings.Split(v, ",") {
		h = strings.TrimSpace(h)
		switch {
		case h == "":
		case strings.ContainsAny(h, "/@?#") || strings.ContainsFunc(h, unicode.IsSpace):
			errs = append(errs, fmt.Errorf("%s: %q: want a host name (\"name\" or \"*.domain\"), without scheme or path", c.Named(env), h))
		case !validHostPattern(h):
			errs = append(errs, fmt.Errorf("%s: %q: want a host name (\"name\") or \"*.domain\" (every name below domain, such as *.preview.internal); \"*\" may only lead, followed by a dot and a domain", c.Named(env), h))
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

// OverrideKey is the override key of COMPOSER_OVERRIDE_KEY or a key file:
// its bytes, surrounding whitespace (spaces, tabs, newlines) trimmed the
// same way for both, so that the command and the composer agree; at least
// override.MinKeyLen. Its errors never hold the key.
func OverrideKey(raw string) ([]byte, error) {
	k := strings.TrimSpace(raw)
	if len(k) < override.MinKeyLen {
		return nil, fmt.Errorf("%d bytes, want at least %d (e.g. the output of openssl rand -base64 48)", len(k), override.MinKeyLen)
	}
	return []byte(k), nil
}

// islandRing is the ring of COMPOSER_ISLAND_KEYS, signing with the key
// named by signID (the only one when it is empty). No island key may be
// the override key: a leak of one must not forge the other. Its errors
// never hold a key.
func islandRing(keys, signID string, overrideKey []byte) (*island.Ring, error) {
	ring, err := island.Keys(keys)
	if err != nil {
		return nil, err
	}
	if signID == "" {
		if len(ring) != 1 {
			return nil, errors.New("several keys: name the one that signs with COMPOSER_ISLAND_KEY_ID")
		}
		for id := range ring {
			signID = id
		}
	}
	r, err := island.NewRing(signID, ring)
	if err != nil {
		return nil, err
	}
	if len(overrideKey) > 0 && r.Holds(overrideKey) {
		return nil, errors.New("an island key is the override key (COMPOSER_OVERRIDE_KEY): give islands a secret of their own")
	}
	return r, nil
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

// sameListenAddr reports whether listeners on a and b (both valid listen
// addresses) would want the same socket: one port (not 0), and one host,
// or either on every interface. localhost is taken for 127.0.0.1.
func sameListenAddr(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	na, errA := net.LookupPort("tcp", pa)
	nb, errB := net.LookupPort("tcp", pb)
	if errA != nil || errB != nil || na != nb || na == 0 {
		return false
	}
	norm := func(h string) string {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "localhost" {
			return "127.0.0.1"
		}
		if ip := net.ParseIP(h); ip != nil {
			if ip.IsUnspecified() {
				return ""
			}
			return ip.String()
		}
		return h
	}
	ha, hb = norm(ha), norm(hb)
	return ha == "" || hb == "" || ha == hb
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

// NewLogger builds the one logger of the process, in the format and at
// the level c says.
func NewLogger(c *Config, stderr io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	format := c.LogFormat
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

// IsS3 reports whether a COMPOSER_TEMPLATES value names S3.
func IsS3(templates string) bool { return strings.HasPrefix(templates, "s3://") }

// IsSSM reports whether a COMPOSER_REGISTRY value names Parameter Store.
func IsSSM(registry string) bool { return strings.HasPrefix(registry, "ssm:") }

// DemoAddr is the public listener of the demo when COMPOSER_ADDR is not
// set: this machine only. The container image sets COMPOSER_ADDR=:8080.
const DemoAddr = "127.0.0.1:8080"

// DefaultAdminAddr is the admin listener when COMPOSER_ADMIN_ADDR is not
// set: this machine only, everywhere (it carries pprof and /status).
const DefaultAdminAddr = "127.0.0.1:9090"

// DemoCSP is the demo's policy: nothing inline but the composer's own
// scripts, allowed by their hashes, and what they insert ('strict-dynamic':
// every script that runs is re-created by the activator, package inert;
// 'self' only for browsers without 'strict-dynamic', which ignore it).
const DemoCSP = "default-src 'self'; script-src 'self' 'strict-dynamic' {hashes}; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; object-src 'none'"

// scriptsBlocked names the directive of policy that governs script
// elements when it allows no inline script, so that the activator could
// not run: neither {hashes} nor 'unsafe-inline'. "" when scripts may run.
func scriptsBlocked(policy string) string {
	name, value, ok := inert.ScriptDirective(policy)
	if !ok || strings.Contains(value, "{hashes}") || strings.Contains(strings.ToLower(value), "'unsafe-inline'") {
		return ""
	}
	return name
}
