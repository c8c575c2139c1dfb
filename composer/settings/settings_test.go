package settings

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestDocsListEverySetting keeps the configuration page's table of
// settings true: every setting has its row.
func TestDocsListEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range All {
		row := "| `" + s.Env + "` | `-" + s.Flag + "` |"
		if s.Flag == "" {
			row = "| `" + s.Env + "` | none: the environment only |"
		}
		if !strings.Contains(string(readme), row) {
			t.Errorf("docs/configuration.md has no row starting %q", row)
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{"COMPOSER_ADDR": ":9000", "COMPOSER_REFRESH": "5s"}
	c, err := Parse([]string{"-addr", ":9100"}, func(k string) string { return env[k] }, os.Stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":9100" || c.Refresh.String() != "5s" || c.FragmentTimeout.String() != "2s" {
		t.Errorf("config = %+v", c)
	}
}

// A nonce in a page a CDN keeps would be every visitor's: COMPOSER_CSP
// allows the composer's scripts by hash, and a policy with {nonce} is
// refused rather than sent with a nonce no script carries.
func TestCSPWithNonceIsRefused(t *testing.T) {
	env := map[string]string{"COMPOSER_CSP": "script-src 'nonce-{nonce}'"}
	_, err := Parse(nil, func(k string) string { return env[k] }, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "{hashes}") {
		t.Errorf("err = %v, want {nonce} refused with a pointer to {hashes}", err)
	}
}

func TestCDNKeyHeaders(t *testing.T) {
	env := map[string]string{"COMPOSER_CDN_KEY_HEADERS": " accept-language, cloudfront-viewer-country ,"}
	c, err := Parse(nil, func(k string) string { return env[k] }, io.Discard, nil)
	if err != nil || strings.Join(c.CDNKeyHeaders, ",") != "Accept-Language,Cloudfront-Viewer-Country" {
		t.Errorf("cdnKeyHeaders = %q, %v", c.CDNKeyHeaders, err)
	}
	env["COMPOSER_CDN_KEY_HEADERS"] = "Accept Language"
	if _, err := Parse(nil, func(k string) string { return env[k] }, io.Discard, nil); err == nil {
		t.Error("a header name with a space was accepted")
	}
}

// The listeners default to loopback: the admin one (pprof, /status)
// always, the public one for the demo (nothing configured); a server of
// one's own templates or registry keeps :8080 unless told otherwise.
func TestListenersDefaultToLoopback(t *testing.T) {
	for _, tt := range []struct {
		env             map[string]string
		addr, adminAddr string
	}{
		{nil, "127.0.0.1:8080", "127.0.0.1:9090"},
		{map[string]string{"COMPOSER_TEMPLATES": "./t"}, ":8080", "127.0.0.1:9090"},
		{map[string]string{"COMPOSER_REGISTRY": "./r.json"}, ":8080", "127.0.0.1:9090"},
		{map[string]string{"COMPOSER_ADDR": ":8081"}, ":8081", "127.0.0.1:9090"},
		{map[string]string{"COMPOSER_ADMIN_ADDR": ":9191"}, "127.0.0.1:8080", ":9191"},
	} {
		c, err := Parse(nil, func(k string) string { return tt.env[k] }, io.Discard, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Addr != tt.addr || c.AdminAddr != tt.adminAddr {
			t.Errorf("env %v: listening on %q, admin %q; want %q, %q", tt.env, c.Addr, c.AdminAddr, tt.addr, tt.adminAddr)
		}
	}
}

// Two listeners given one address is said as such, before anything
// starts, rather than as the second bind's "address already in use".
func TestOneAddressForBothListenersIsRefused(t *testing.T) {
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{args: []string{"-addr", "127.0.0.1:7070", "-admin-addr", "127.0.0.1:7070"}, want: `-addr "127.0.0.1:7070" and -admin-addr "127.0.0.1:7070": one address for two listeners`},
		{args: []string{"-addr", ":7070", "-admin-addr", "127.0.0.1:7070"}, want: "one address for two listeners"},
		{args: []string{"-addr", "localhost:7070", "-admin-addr", "127.0.0.1:7070"}, want: "one address for two listeners"},
		{env: map[string]string{"COMPOSER_ADDR": "127.0.0.1:9090"}, want: `COMPOSER_ADDR="127.0.0.1:9090" and COMPOSER_ADMIN_ADDR (default "127.0.0.1:9090"): one address for two listeners`},
		{env: map[string]string{"COMPOSER_ADDR": ":7070", "COMPOSER_DEBUG_ADDR": "[::]:7070"}, want: "one address for two listeners"},
	} {
		_, err := Parse(tt.args, func(k string) string { return tt.env[k] }, io.Discard, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("env %v args %v: %v, want an error containing %q", tt.env, tt.args, err, tt.want)
		}
	}
	for _, ok := range [][]string{
		{"-addr", "127.0.0.1:7070", "-admin-addr", "127.0.0.2:7070"},
		{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"},
		{"-addr", "127.0.0.1:7070", "-admin-addr", ""},
	} {
		if _, err := Parse(ok, func(string) string { return "" }, io.Discard, nil); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
}
func TestPublicOrigin(t *testing.T) {
	env := map[string]string{"COMPOSER_PUBLIC_ORIGIN": "https://Shop.example/"}
	c, err := Parse(nil, func(k string) string { return env[k] }, io.Discard, nil)
	if err != nil || c.PublicOrigin != "https://Shop.example" {
		t.Errorf("PublicOrigin = %q, %v", c.PublicOrigin, err)
	}
	for _, bad := range []string{"shop.example", "https://shop.example/app", "ftp://shop.example", "https://u@shop.example"} {
		env["COMPOSER_PUBLIC_ORIGIN"] = bad
		if _, err := Parse(nil, func(k string) string { return env[k] }, io.Discard, nil); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}

// Every script on a page is written inert and re-created by the composer's
// activator, which the policy must allow: a policy that restricts scripts
// without {hashes} would run none of them, so it is refused at start-up.
func TestCSPThatWouldRunNoScriptIsRefused(t *testing.T) {
	for _, tc := range []struct {
		csp string
		ok  bool
	}{
		{"script-src 'self' 'strict-dynamic' {hashes}", true},
		{"default-src 'self' {hashes}", true},
		{"img-src 'self'; frame-ancestors 'none'", true}, // scripts unrestricted
		{"script-src 'self' 'unsafe-inline'", true},      // inline allowed: the activator runs
		{"script-src 'self'", false},
		{"default-src 'self'; style-src 'self'", false},
		{"script-src-elem 'self'; script-src {hashes}", false},
		{"SCRIPT-SRC 'self'", false},
	} {
		env := map[string]string{"COMPOSER_CSP": tc.csp}
		_, err := Parse(nil, func(k string) string { return env[k] }, io.Discard, nil)
		if tc.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), "{hashes}") {
			t.Errorf("%q: err = %v, want ok %v (refusals name {hashes})", tc.csp, err, tc.ok)
		}
	}
}

func TestGCHeadroom(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want int64
		ok   bool
	}{{"", 24 << 20, true}, {"67108864", 64 << 20, true}, {"0", 0, true}, {"68719476736", 64 << 30, true}, {"68719476737", 0, false}, {"9223372036854775807", 0, false}, {"-1", 0, false}, {"24MiB", 0, false}} {
		env := map[string]string{"COMPOSER_GC_HEADROOM": tt.env}
		c, err := Parse(nil, func(k string) string { return env[k] }, io.Discard, nil)
		if (err == nil) != tt.ok || tt.ok && c.GCHeadroom != tt.want {
			t.Errorf("COMPOSER_GC_HEADROOM=%q: %v, %v; want %d", tt.env, c.GCHeadroom, err, tt.want)
		}
	}
}
