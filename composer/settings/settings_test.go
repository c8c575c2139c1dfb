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
