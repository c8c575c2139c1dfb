package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseEntryBreakerAndMaxConcurrency(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint": "https://r.internal/f"`
	tests := []struct {
		in   string
		want Entry
	}{
		{`{` + ep + `}`, Entry{Endpoint: "https://r.internal/f"}},
		{`{` + ep + `, "breaker": "off"}`, Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{Off: true}}},
		{`{` + ep + `, "breaker": {"failureRate": 0.25, "minRequests": 50, "window": "30s", "openFor": "5s"}}`,
			Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{FailureRate: 0.25, MinRequests: 50, Window: 30 * time.Second, OpenFor: 5 * time.Second}}},
		{`{` + ep + `, "breaker": {"consecutiveFailures": 3, "openFor": "2s", "maxOpenFor": "1m"}}`,
			Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{ConsecutiveFailures: 3, OpenFor: 2 * time.Second, MaxOpenFor: time.Minute}}},
		{`{` + ep + `, "breaker": {"openFor": "2s", "maxOpenFor": "2s"}}`,
			Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{OpenFor: 2 * time.Second, MaxOpenFor: 2 * time.Second}}},
		{`{` + ep + `, "breaker": {"minRequests": 5}, "maxConcurrency": 32}`,
			Entry{Endpoint: "https://r.internal/f", Breaker: Breaker{MinRequests: 5}, MaxConcurrency: 32}},
	}
	for _, tt := range tests {
		got, err := ParseEntry([]byte(tt.in))
		if err != nil {
			t.Errorf("%s: %v", tt.in, err)
			continue
		}
		if d := cmp.Diff(tt.want, got); d != "" {
			t.Errorf("%s: (-want +got)\n%s", tt.in, d)
		}
	}
}

func TestParseEntryBreakerErrors(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint": "https://r.internal/f"`
	tests := map[string]string{
		`"breaker": "on"`:                                   `want "off"`,
		`"breaker": true`:                                   "breaker",
		`"breaker": {"failureRate": 0}`:                     "failureRate 0",
		`"breaker": {"failureRate": 1.5}`:                   "failureRate 1.5",
		`"breaker": {"minRequests": 0}`:                     "minRequests 0",
		`"breaker": {"window": "10"}`:                       `window "10"`,
		`"breaker": {"window": "100ms"}`:                    `window "100ms"`,
		`"breaker": {"openFor": "-1s"}`:                     `openFor "-1s"`,
		`"breaker": {"open": "1s"}`:                         "unknown field",
		`"breaker": {"consecutiveFailures": 0}`:             "consecutiveFailures 0: want 1 to 1000000",
		`"breaker": {"consecutiveFailures": -5}`:            "consecutiveFailures -5",
		`"breaker": {"consecutiveFailures": 2.5}`:           "consecutiveFailures",
		`"breaker": {"maxOpenFor": "10ms"}`:                 `maxOpenFor "10ms": want a Go duration from 100ms to 1h0m0s`,
		`"breaker": {"maxOpenFor": "2h"}`:                   `maxOpenFor "2h"`,
		`"breaker": {"openFor": "1m", "maxOpenFor": "30s"}`: `maxOpenFor "30s" is below openFor "1m"`,
		`"maxConcurrency": 0`:                               "maxConcurrency 0",
		`"maxConcurrency": -3`:                              "maxConcurrency -3",
		`"maxConcurrency": "10"`:                            "maxConcurrency",
		`"breaker": {"failureRate": "half"}`:                "failureRate",
		`"breaker": {"minRequests": 2000000}`:               "minRequests 2000000",
	}
	for field, want := range tests {
		_, err := ParseEntry([]byte(`{` + ep + `, ` + field + `}`))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one containing %q", field, err, want)
		}
	}
}

// The messages name the field as the registry's author wrote it, never a
// Go type; breaker and maxConcurrency in a version say they are per
// entry; null is refused, as a JSON null entry is, rather than taken for
// the default.
func TestParseEntryMessagesForAuthors(t *testing.T) {
	t.Parallel()
	const ep = `"endpoint": "https://r.internal/f"`
	const v = `"name": "v2", "endpoint": "https://r.internal/v2", "weight": 5`
	tests := map[string]string{
		`{` + ep + `, "maxConcurrency": "many"}`:                                                         `maxConcurrency: a JSON string; want a whole number`,
		`{` + ep + `, "maxConcurrency": 1.5}`:                                                            `maxConcurrency: 1.5; want a whole number`,
		`{` + ep + `, "breaker": {"minRequests": "x"}}`:                                                  `breaker.minRequests: a JSON string; want a whole number`,
		`{` + ep + `, "breaker": {"window": 5}}`:                                                         `breaker.window: a JSON number; want a string`,
		`{` + ep + `, "breaker": 5}`:                                                                     `breaker: a JSON number; want "off" or an object`,
		`{` + ep + `, "versions": [{` + v + `, "maxConcurrency": 3}]}`:                                   `versions[0]: "maxConcurrency" is set per entry, not per version`,
		`{` + ep + `, "versions": [{` + v + `, "breaker": "off"}]}`:                                      `versions[0]: "breaker" is set per entry, not per version`,
		`{` + ep + `, "versions": [{"name": "v2", "endpoint": "https://r.internal/v2", "weight": "5"}]}`: `versions[0].weight: a JSON string; want a whole number`,
		`{` + ep + `, "maxConcurrency": null}`:                                                           `"maxConcurrency": null: leave the field out`,
		`{` + ep + `, "breaker": null}`:                                                                  `"breaker": null: leave the field out for the default breaker, or write "off"`,
		`{` + ep + `, "breaker": {"failureRate": null}}`:                                                 `breaker: "failureRate": null: leave the field out`,
		`{` + ep + `, "timeout": null}`:                                                                  `"timeout": null: leave the field out`,
	}
	for in, want := range tests {
		_, err := ParseEntry([]byte(in))
		if err == nil {
			t.Errorf("%s: accepted, want an error with %q", in, want)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, want) {
			t.Errorf("%s:\n got %q\nwant %q", in, msg, want)
		}
		for _, internal := range []string{"Go struct", "Go value", "jsonEntry", "jsonBreaker", "registry.", "of type"} {
			if strings.Contains(msg, internal) {
				t.Errorf("%s: %q shows Go internals (%s)", in, msg, internal)
			}
		}
	}
	// An empty breaker object is the default breaker, as documented.
	if e, err := ParseEntry([]byte(`{` + ep + `, "breaker": {}}`)); err != nil || e.Breaker != (Breaker{}) {
		t.Errorf(`"breaker": {}: %+v, %v; want the default breaker`, e.Breaker, err)
	}
}
