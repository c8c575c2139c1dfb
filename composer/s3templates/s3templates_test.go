package s3templates_test

import (
	"testing"

	"github.com/ssr-mfe/composer/composer/s3templates"
)

func TestParseURI(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]s3templates.Location{
		"s3://b/site/":  {Bucket: "b", Prefix: "site/"},
		"s3://b/site":   {Bucket: "b", Prefix: "site/"},
		"s3://b":        {Bucket: "b"},
		"s3://b/a/b/c/": {Bucket: "b", Prefix: "a/b/c/"},
	} {
		if got, err := s3templates.ParseURI(in); err != nil || got != want {
			t.Errorf("ParseURI(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"b/site", "http://b/site", "s3:///x"} {
		if _, err := s3templates.ParseURI(in); err == nil {
			t.Errorf("ParseURI(%q): no error", in)
		}
	}
}
