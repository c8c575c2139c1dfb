package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ssr-mfe/composer/composer/admin"
	"github.com/ssr-mfe/composer/composer/override"
	"github.com/ssr-mfe/composer/composer/settings"
)

const testOverrideKey = "0123456789abcdef0123456789abcdef-test-key"

func runOverride(env map[string]string, args ...string) (stdout, stderr string, err error) {
	var out, errOut strings.Builder
	err = run(context.Background(), append([]string{"composer", "override"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestOverrideCommandSignsATokenTheComposerAccepts(t *testing.T) {
	env := map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}
	before := time.Now()
	out, say, err := runOverride(env, "reviews=https://preview.internal/fragment", "-debug", "-ttl", "2h", "product=http://p.preview.internal:8080/x?y=1")
	if err != nil {
		t.Fatal(err)
	}
	tok, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.ContainsAny(tok, " \n") {
		t.Fatalf("stdout %q: want the token alone on a line", out)
	}
	got, err := override.Verify([]byte(testOverrideKey), tok, time.Now())
	if err != nil {
		t.Fatalf("the composer's key refuses the token: %v", err)
	}
	if got.Fragments["reviews"] != "https://preview.internal/fragment" || got.Fragments["product"] != "http://p.preview.internal:8080/x?y=1" || len(got.Fragments) != 2 || !got.Debug {
		t.Errorf("token grants %+v", got)
	}
	if got.Expires.Before(before.Add(2*time.Hour-time.Second)) || got.Expires.After(time.Now().Add(2*time.Hour)) {
		t.Errorf("expires %s, want in 2h", got.Expires)
	}
	for _, want := range []string{"reviews from https://preview.internal/fragment", "debug view", "valid until", "Mfe-Override", "/_composer/overrides"} {
		if !strings.Contains(say, want) {
			t.Errorf("stderr lacks %q: %s", want, say)
		}
	}
	if strings.Contains(out+say, testOverrideKey) {
		t.Error("the key was printed")
	}
	// The default life is 8 hours.
	out, _, err = runOverride(env, "reviews=https://preview.internal/")
	if err != nil {
		t.Fatal(err)
	}
	got, err = override.Verify([]byte(testOverrideKey), strings.TrimSpace(out), time.Now())
	if err != nil || got.Debug || got.Expires.Before(before.Add(8*time.Hour-time.Second)) || got.Expires.After(time.Now().Add(8*time.Hour)) {
		t.Errorf("default: %+v, %v; want 8h, no debug", got, err)
	}
}

func TestOverrideCommandReadsAKeyFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte(testOverrideKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runOverride(map[string]string{"COMPOSER_OVERRIDE_KEY": strings.Repeat("x", 40)}, "-key-file", f, "reviews=https://preview.internal/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := override.Verify([]byte(testOverrideKey), strings.TrimSpace(out), time.Now()); err != nil {
		t.Errorf("token not signed with the file's key (newline trimmed): %v", err)
	}
}

// -key-file reads a small regular file only: a device, a FIFO or a
// directory is refused before anything is read (a FIFO would block, a
// device never end), and so is a file too long to be a key.
func TestOverrideCommandKeyFileIsASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	long := filepath.Join(dir, "long")
	if err := os.WriteFile(long, []byte(strings.Repeat("k", 64<<10)), 0o600); err != nil {
		t.Fatal(err)
	}
	key := map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}
	for file, want := range map[string]string{
		"/dev/zero": "not a regular file",
		fifo:        "not a regular file",
		dir:         "not a regular file",
		long:        "not a key",
	} {
		done := make(chan error, 1)
		go func() {
			_, _, err := runOverride(key, "-key-file", file, "reviews=https://p.internal/")
			done <- err
		}()
		if err := <-done; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-key-file %s: %v, want an error containing %q", file, err, want)
		}
	}
}

// Whitespace around the key, in a key file or in COMPOSER_OVERRIDE_KEY, is
// no part of it: the command and the composer agree on the key.
func TestOverrideKeyIgnoresSurroundingWhitespace(t *testing.T) {
	f := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(f, []byte(" \t"+testOverrideKey+"  \r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := settings.Parse(nil, func(k string) string {
		return map[string]string{"COMPOSER_OVERRIDE_KEY": "  " + testOverrideKey + " \n", "COMPOSER_OVERRIDE_HOSTS": "*.p.internal"}[k]
	}, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(cfg.OverrideKey) != testOverrideKey {
		t.Errorf("the composer's key is %d bytes, want %d (whitespace trimmed)", len(cfg.OverrideKey), len(testOverrideKey))
	}
	for name, env := range map[string]map[string]string{
		"file": nil,
		"env":  {"COMPOSER_OVERRIDE_KEY": " " + testOverrideKey + "\t "},
	} {
		args := []string{"reviews=https://r.p.internal/"}
		if name == "file" {
			args = append(args, "-key-file", f)
		}
		out, _, err := runOverride(env, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := override.Verify(cfg.OverrideKey, strings.TrimSpace(out), time.Now()); err != nil {
			t.Errorf("%s: the composer refuses the token: %v", name, err)
		}
	}
}

func TestOverrideCommandRefusesBadInput(t *testing.T) {
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tooshort-secret\n"), 0o600)
	key := map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{nil, []string{"reviews=https://p.internal/"}, "no key: set COMPOSER_OVERRIDE_KEY"},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": "tooshort-secret"}, []string{"reviews=https://p.internal/"}, "15 bytes, want at least 32"},
		{key, []string{"-key-file", short, "reviews=https://p.internal/"}, "15 bytes, want at least 32"},
		{key, []string{"-key-file", filepath.Join(t.TempDir(), "none"), "reviews=https://p.internal/"}, "-key-file"},
		{nil, []string{"-key", "tooshort-secret", "reviews=https://p.internal/"}, "never taken from the command line"},
		{nil, []string{"reviews=https://p.internal/", "--key=tooshort-secret"}, "never taken from the command line"},
		{key, []string{"reviews"}, `"reviews": want ID=URL`},
		{key, []string{"=https://p.internal/"}, "want ID=URL"},
		{key, []string{"reviews=ftp://p.internal/"}, "want an http or https URL"},
		{key, []string{"reviews=https://user:pw@p.internal/"}, "no user information"},
		{key, []string{"reviews=/relative"}, "want an http or https URL"},
		{key, []string{"reviews=https://a.internal/", "reviews=https://b.internal/"}, `"reviews" given twice`},
		{key, []string{"-ttl", "0s", "reviews=https://p.internal/"}, "-ttl 0s: want a positive duration of at most 168h0m0s"},
		{key, []string{"-ttl", "200h", "reviews=https://p.internal/"}, "at most 168h0m0s (7 days)"},
		{key, []string{"-ttl", "30s", "reviews=https://p.internal/"}, "-ttl 30s: want at least 1m0s"},
		{key, []string{"-ttl", "59s", "reviews=https://p.internal/"}, "want at least 1m0s"},
		{key, nil, "nothing to grant"},
	} {
		out, say, err := runOverride(c.env, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %v: %v, want an error containing %q", c.env, c.args, err, c.want)
		}
		if out != "" {
			t.Errorf("%v: printed %q", c.args, out)
		}
		if err != nil && strings.Contains(err.Error()+say, "tooshort-secret") {
			t.Errorf("%v: the key was echoed: %v", c.args, err)
		}
	}
}

// An IP literal the composer refuses (always, or outside composer dev)
// is signed, with a warning that says so.
func TestOverrideCommandWarnsAboutAddressesTheComposerRefuses(t *testing.T) {
	env := map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}
	for u, want := range map[string]string{
		"http://127.0.0.1:3000/":      "the composer refuses it outside composer dev",
		"http://[::1]:3000/":          "the composer refuses it outside composer dev",
		"http://169.254.170.2/v2/":    "the composer always refuses it",
		"http://[fe80::1]/":           "the composer always refuses it",
		"http://0.0.0.0:3000/":        "the composer always refuses it",
		"http://224.0.0.1/":           "the composer always refuses it",
		"http://[2002:7f00:1::1]/":    "the composer always refuses it",
		"http://10.0.0.8:3000/":       "",
		"https://r.preview.internal/": "",
	} {
		out, say, err := runOverride(env, "reviews="+u)
		if err != nil || out == "" {
			t.Errorf("%s: %q, %v: want a token", u, out, err)
			continue
		}
		if want == "" {
			if strings.Contains(say, "warning") {
				t.Errorf("%s: unexpected warning: %s", u, say)
			}
		} else if !strings.Contains(say, "warning: reviews:") || !strings.Contains(say, want) {
			t.Errorf("%s: stderr lacks a warning saying %q: %s", u, want, say)
		}
	}
	if _, _, err := runOverride(env, "-ttl", "1m", "reviews=https://p.internal/"); err != nil {
		t.Errorf("-ttl 1m: %v", err)
	}
}

func TestOverrideCommandWarnsAboutHostsTheComposerRefuses(t *testing.T) {
	env := map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "*.preview.internal,review.example"}
	out, say, err := runOverride(env, "reviews=https://r.preview.internal/", "product=https://evil.example/")
	if err != nil || out == "" {
		t.Fatalf("%q, %v", out, err)
	}
	if !strings.Contains(say, "warning: product: host evil.example is not in COMPOSER_OVERRIDE_HOSTS") || strings.Contains(say, "warning: reviews") {
		t.Errorf("stderr: %s", say)
	}
}

func TestOverrideSettings(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string // "" for no error
	}{
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "*.preview.internal"}, nil, ""},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}, []string{"-override-hosts", "a.internal, *.b.internal"}, ""},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": "tooshort-secret", "COMPOSER_OVERRIDE_HOSTS": "a.internal"}, nil, "COMPOSER_OVERRIDE_KEY: 15 bytes, want at least 32"},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}, nil, "COMPOSER_OVERRIDE_KEY is set but COMPOSER_OVERRIDE_HOSTS is empty"},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "https://a.internal/"}, nil, `COMPOSER_OVERRIDE_HOSTS: "https://a.internal/": want a host name`},
		{nil, []string{"-override-key", testOverrideKey}, "flag provided but not defined: -override-key"},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "*"}, nil, `COMPOSER_OVERRIDE_HOSTS: "*": want`},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "a.internal,*."}, nil, `COMPOSER_OVERRIDE_HOSTS: "*.": want`},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "*.*.internal"}, nil, `COMPOSER_OVERRIDE_HOSTS: "*.*.internal": want`},
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "a*.internal"}, nil, `COMPOSER_OVERRIDE_HOSTS: "a*.internal": want`},
		{map[string]string{"COMPOSER_ALLOWED_HOSTS": "*"}, nil, `COMPOSER_ALLOWED_HOSTS: "*": want`},
		{map[string]string{"COMPOSER_ALLOWED_HOSTS": "*."}, nil, `COMPOSER_ALLOWED_HOSTS: "*.": want`},
	} {
		cfg, err := settings.Parse(c.args, func(k string) string { return c.env[k] }, io.Discard, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v %v: %v", c.env, c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v %v: %v, want %q", c.env, c.args, err, c.want)
		case err != nil && strings.Contains(err.Error(), "tooshort-secret"):
			t.Errorf("the key was echoed: %v", err)
		case c.want == "" && (string(cfg.OverrideKey) != testOverrideKey || len(cfg.OverrideHosts) == 0):
			t.Errorf("%v %v: key %d bytes, hosts %q", c.env, c.args, len(cfg.OverrideKey), cfg.OverrideHosts)
		}
	}
}

// With the key, the running composer serves /_composer/overrides and
// never logs the key; without it, the path is an unknown page.
func TestOverridesPageOnTheRunningComposer(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, c := range []struct {
		env    map[string]string
		args   []string
		status int
	}{
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "*.preview.internal"}, nil, 200},
		{map[string]string{}, nil, 404},
		// composer dev: the key alone is enough (overrides may reach this machine).
		{map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}, []string{"dev", "-templates", "../templates"}, 200},
	} {
		inst := start(t, c.env, c.args...)
		resp, err := http.Get(inst.base + "/_composer/overrides")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%v %v: %d, want %d", c.env, c.args, resp.StatusCode, c.status)
		}
		inst.stop(t)
		if strings.Contains(inst.logs.String(), testOverrideKey) {
			t.Error("the key is in the logs")
		}
	}
}

// The admin listener and the public one are recorded as the composer's
// own, for the override transport to refuse.
func TestListenersAreRecordedForOverrides(t *testing.T) {
	cfg, err := settings.Parse([]string{"-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	closeAdmin, _, err := admin.Serve(cfg.AdminAddr, slog.New(slog.NewJSONHandler(&logs, nil)), nil, nil, cfg.Listeners)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAdmin()
	var line struct{ Addr string }
	if err := json.Unmarshal([]byte(strings.SplitN(logs.String(), "\n", 2)[0]), &line); err != nil {
		t.Fatalf("%v: %s", err, logs.String())
	}
	ap, err := netip.ParseAddrPort(line.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Listeners.Contains(ap.Addr(), ap.Port()) {
		t.Errorf("the admin listener %s is not recorded", ap)
	}
}

// On a running composer, an override reaches an allowed fragment under
// composer dev, and is refused (the fragment's fallback shows) when it
// points at loopback outside composer dev, or at the composer's own
// listeners even under composer dev; a page with an override is never
// cacheable.
func TestOverridesOnThePage(t *testing.T) {
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	preview := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<section id="preview-reviews">the preview build</section>`)
	}))
	defer preview.Close()
	get := func(inst *instance, tok string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", inst.base+"/product/1", nil)
		req.Header.Set(override.Header, tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	sign := func(u string) string {
		tok, err := override.Sign([]byte(testOverrideKey), override.Token{Fragments: map[string]string{"reviews": u}, Expires: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	dev := start(t, map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}, "dev", "-templates", "../templates")
	resp, body := get(dev, sign(preview.URL+"/"))
	if !strings.Contains(body, "the preview build") {
		t.Errorf("composer dev, override to a loopback fragment: not served:\n%s", body)
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") || !strings.Contains(cc, "private") {
		t.Errorf("a page with an override: Cache-Control %q, want private, no-store", cc)
	}
	_, body = get(dev, sign(dev.base+"/healthz"))
	if !strings.Contains(body, "Reviews are taking a break") {
		t.Errorf("composer dev, override to the composer itself: the fallback does not show:\n%s", body)
	}
	dev.stop(t)

	prod := start(t, map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey, "COMPOSER_OVERRIDE_HOSTS": "127.0.0.1,localhost"})
	_, body = get(prod, sign(preview.URL+"/"))
	if strings.Contains(body, "the preview build") || !strings.Contains(body, "Reviews are taking a break") {
		t.Errorf("outside composer dev, override to loopback: not refused:\n%s", body)
	}
}

// The compose stack turns overrides on, and the command its comment shows
// signs a token its composer takes, to a host it allows.
func TestComposeStackSignsOverrides(t *testing.T) {
	comp := readCompose(t).Services["composer"]
	env := comp.Environment
	cfg, err := settings.Parse(nil, func(k string) string { return env[k] }, io.Discard, nil)
	if err != nil || len(cfg.OverrideKey) == 0 {
		t.Fatalf("overrides not on in the compose stack: %v", err)
	}
	out, say, err := runOverride(env, "reviews=http://fragments:9004/", "-debug")
	if err != nil || strings.Contains(say, "warning") {
		t.Fatalf("%v: %s", err, say)
	}
	if _, err := override.Verify(cfg.OverrideKey, strings.TrimSpace(out), time.Now()); err != nil {
		t.Error(err)
	}
}

// A -ttl that is no duration is one line naming the forms accepted, not
// the flag package's error and the whole usage; days are accepted as d.
func TestOverrideTTLErrorsAreOneLine(t *testing.T) {
	key := map[string]string{"COMPOSER_OVERRIDE_KEY": testOverrideKey}
	for ttl, want := range map[string]string{
		"30d":  "-ttl 30d: want a positive duration of at most 168h0m0s (7 days)",
		"soon": `-ttl "soon": want a duration such as 8h, 90m or 2d`,
		"1.5x": `-ttl "1.5x": want a duration such as 8h, 90m or 2d`,
	} {
		_, say, err := runOverride(key, "-ttl", ttl, "reviews=https://p.internal/")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-ttl %s: %v, want an error containing %q", ttl, err, want)
		}
		if strings.Contains(say, "usage:") || strings.Contains(say, "invalid value") {
			t.Errorf("-ttl %s: stderr has the flag package's error or the usage:\n%s", ttl, say)
		}
	}
	before := time.Now()
	out, _, err := runOverride(key, "-ttl", "2d", "reviews=https://p.internal/")
	if err != nil {
		t.Fatalf("-ttl 2d: %v", err)
	}
	tok, err := override.Verify([]byte(testOverrideKey), strings.TrimSpace(out), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d := tok.Expires.Sub(before); d < 47*time.Hour || d > 49*time.Hour {
		t.Errorf("-ttl 2d: the token expires in %s, want 48h", d)
	}
}
