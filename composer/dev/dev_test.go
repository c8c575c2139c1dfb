package dev

import (
	"net/http/httptest"
	"testing"
)

// 'none' is a list of its own: a source added to it replaces it.
func TestDevPolicyNone(t *testing.T) {
	h := ScriptHash
	for _, tt := range []struct{ in, want string }{
		{"connect-src 'none'", "connect-src 'self'"},
		{"script-src 'NONE'; connect-src 'self'", "script-src " + h + "; connect-src 'self'"},
		{"default-src 'none'", "default-src 'none'; script-src " + h + "; connect-src 'self'"},
		{"default-src 'none'; script-src 'sha256-x'", "default-src 'none'; script-src 'sha256-x' " + h + "; connect-src 'self'"},
	} {
		if got := devPolicy(tt.in); got != tt.want {
			t.Errorf("devPolicy(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestDevPolicy(t *testing.T) {
	h := ScriptHash
	for _, tt := range []struct{ in, want string }{
		{"script-src 'self' 'sha256-x'; connect-src 'self'", "script-src 'self' 'sha256-x' " + h + "; connect-src 'self'"},
		{"default-src 'self'", "default-src 'self'; script-src 'self' " + h},
		{"default-src 'none'; script-src 'sha256-x'", "default-src 'none'; script-src 'sha256-x' " + h + "; connect-src 'self'"},
		{"script-src 'self' 'unsafe-inline'", "script-src 'self' 'unsafe-inline'"},
		{"frame-ancestors 'none'", "frame-ancestors 'none'"},
	} {
		if got := devPolicy(tt.in); got != tt.want {
			t.Errorf("devPolicy(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// The script goes before the first </head>, even when the tag is split
// between two writes, and at the end of a page without one.
func TestDevInjector(t *testing.T) {
	for _, tt := range []struct {
		writes []string
		want   string
	}{
		{[]string{"<head><title>t</title></HEAD><body>"}, "<head><title>t</title>[S]</HEAD><body>"},
		{[]string{"<head></he", "ad>b"}, "<head>[S]</head>b"},
		{[]string{"<head><", "/", "head>b"}, "<head>[S]</head>b"},
		{[]string{"<p>no head</p>"}, "<p>no head</p>[S]"},
		{[]string{"a</head>b</head>"}, "a[S]</head>b</head>"},
	} {
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Type", "text/html; charset=utf-8")
		rec.Header().Set("Content-Length", "99")
		in := &devInjector{ResponseWriter: rec, tag: "[S]"}
		for _, w := range tt.writes {
			_, _ = in.Write([]byte(w))
		}
		in.finish()
		if got := rec.Body.String(); got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.writes, got, tt.want)
		}
		if rec.Header().Get("Content-Length") != "" {
			t.Errorf("%q: Content-Length kept", tt.writes)
		}
	}
}

func TestDevOverridesWantIDAndURL(t *testing.T) {
	t.Parallel()
	if _, _, err := devOverrides([]string{"-override", "x"}); err == nil {
		t.Error("-override x accepted")
	}
}
