package main

import (
	"io"
	"testing"

	"github.com/ssr-mfe/composer/composer/settings"
)

func TestMaxPages(t *testing.T) {
	for _, tt := range []struct {
		env  string
		want int
		ok   bool
	}{{"", 2000, true}, {"500", 500, true}, {"0", 0, true}, {"-1", 0, false}, {"many", 0, false}} {
		env := map[string]string{"COMPOSER_MAX_PAGES": tt.env}
		c, err := settings.Parse(nil, func(k string) string { return env[k] }, io.Discard, nil)
		if (err == nil) != tt.ok || tt.ok && c.MaxPages != tt.want {
			t.Errorf("COMPOSER_MAX_PAGES=%q: %v, %v; want %d", tt.env, c.MaxPages, err, tt.want)
		}
	}
}
