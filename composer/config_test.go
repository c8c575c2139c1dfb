package main

import (
	"io"
	"os"
	"strings"
	"testing"
)

// TestReadmeListsEverySetting keeps the tables of settings true: each
// setting has its row in docs/configuration.md, where the table lives, or
// in the README's copy of it.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	more, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	readme = append(readme, more...)
	for _, s := range settings {
		row := "| `" + s.env + "` | `-" + s.flag + "` |"
		if s.flag == "" {
			row = "| `" + s.env + "` | none: the environment only |"
		}
		if !strings.Contains(string(readme), row) {
			t.Errorf("README has no row starting %q", row)
		}
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	env := map[string]string{"COMPOSER_ADDR": ":9000", "COMPOSER_REFRESH": "5s"}
	c, err := parseConfig([]string{"-addr", ":9100"}, func(k string) string { return env[k] }, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != ":9100" || c.refresh.String() != "5s" || c.fragmentTimeout.String() != "2s" {
		t.Errorf("config = %+v", c)
	}
}

// A nonce in a page a CDN keeps would be every visitor's: COMPOSER_CSP
// allows the composer's scripts by hash, and a policy with {nonce} is
// refused rather than sent with a nonce no script carries.
func TestCSPWithNonceIsRefused(t *testing.T) {
	env := map[string]string{"COMPOSER_CSP": "script-src 'nonce-{nonce}'"}
	_, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "{hashes}") {
		t.Errorf("err = %v, want {nonce} refused with a pointer to {hashes}", err)
	}
}

func TestCDNKeyHeaders(t *testing.T) {
	env := map[string]string{"COMPOSER_CDN_KEY_HEADERS": " accept-language, cloudfront-viewer-country ,"}
	c, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || strings.Join(c.cdnKeyHeaders, ",") != "Accept-Language,Cloudfront-Viewer-Country" {
		t.Errorf("cdnKeyHeaders = %q, %v", c.cdnKeyHeaders, err)
	}
	env["COMPOSER_CDN_KEY_HEADERS"] = "Accept Language"
	if _, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard); err == nil {
		t.Error("a header name with a space was accepted")
	}
}

func TestPublicOrigin(t *testing.T) {
	env := map[string]string{"COMPOSER_PUBLIC_ORIGIN": "https://Shop.example/"}
	c, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.publicOrigin != "https://Shop.example" {
		t.Errorf("publicOrigin = %q, %v", c.publicOrigin, err)
	}
	for _, bad := range []string{"shop.example", "https://shop.example/app", "ftp://shop.example", "https://u@shop.example"} {
		env["COMPOSER_PUBLIC_ORIGIN"] = bad
		if _, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard); err == nil {
			t.Errorf("%q was accepted", bad)
		}
	}
}
