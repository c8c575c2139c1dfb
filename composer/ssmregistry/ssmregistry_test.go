package ssmregistry_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/go-cmp/cmp"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
)

func TestParseURI(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"ssm:/ssr-mfe/": "/ssr-mfe/", "ssm:/a/b": "/a/b/", "ssm:/": "/"} {
		if got, err := ssmregistry.ParseURI(in); err != nil || got != want {
			t.Errorf("ParseURI(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"ssm:relative", "/ssr-mfe/", "s3://x"} {
		if _, err := ssmregistry.ParseURI(in); err == nil {
			t.Errorf("ParseURI(%q): no error", in)
		}
	}
}

func TestRawsNamingAndDecryption(t *testing.T) {
	t.Parallel()
	fake := awstest.NewSSM(t)
	fake.Put("/ssr-mfe/header", "http://header/", false)
	fake.Put("/ssr-mfe/reviewsARN", "arn:aws:lambda:eu-west-1:1:function:old", false)
	fake.Put("/ssr-mfe/reviews", "arn:aws:lambda:eu-west-1:1:function:new", false)
	fake.Put("/ssr-mfe/catalogARN", "arn:aws:lambda:eu-west-1:1:function:catalog", false)
	fake.Put("/ssr-mfe/team/secret", `{"endpoint": "https://secret/"}`, true)
	fake.Put("/other/x", "http://x/", false)
	src := ssmregistry.New(ssm.NewFromConfig(awstest.Config(fake.URL)), "/ssr-mfe")
	raws, err := src.Raws(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range raws {
		got[r.ID+" <- "+r.From] = string(r.Data)
	}
	want := map[string]string{
		"header <- /ssr-mfe/header":           "http://header/",
		"reviews <- /ssr-mfe/reviews":         "arn:aws:lambda:eu-west-1:1:function:new",
		"catalog <- /ssr-mfe/catalogARN":      "arn:aws:lambda:eu-west-1:1:function:catalog",
		"team/secret <- /ssr-mfe/team/secret": `{"endpoint": "https://secret/"}`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRegisterRefusesBadInput(t *testing.T) {
	t.Parallel()
	fake := awstest.NewSSM(t)
	client := ssm.NewFromConfig(awstest.Config(fake.URL))
	for _, tt := range []struct{ id, entry string }{{"bad id", "http://x/"}, {"/abs", "http://x/"}, {"ok", "not a url"}} {
		if _, err := ssmregistry.Register(context.Background(), client, "/ssr-mfe/", tt.id, tt.entry); err == nil {
			t.Errorf("Register(%q, %q): no error", tt.id, tt.entry)
		}
	}
	if n := fake.Calls("PutParameter"); n != 0 {
		t.Errorf("PutParameter called %d times", n)
	}
}
