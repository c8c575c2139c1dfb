package markerlambda_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/composer/ssmregistry"
	"github.com/ssr-mfe/composer/composer/ssmregistry/markerlambda"
)

func TestMain(m *testing.M) {
	os.Setenv("AWS_EC2_METADATA_DISABLED", "true") // SDK clients never look for an instance role
	os.Exit(m.Run())
}

func newHandler(t *testing.T) (*awstest.SSM, *markerlambda.Handler, *bytes.Buffer) {
	t.Helper()
	fake := awstest.NewSSM(t)
	var log bytes.Buffer
	return fake, &markerlambda.Handler{
		Client: ssm.NewFromConfig(awstest.Config(fake.URL)),
		Prefix: "/ssr-mfe/",
		Log:    slog.New(slog.NewJSONHandler(&log, nil)),
	}, &log
}

// invoke runs the handler as the Lambda runtime does: the recorded event's
// JSON through aws-lambda-go's handler.
func invoke(t *testing.T, h *markerlambda.Handler, file string) markerlambda.Result {
	t.Helper()
	payload, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var r markerlambda.Result
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRecordedEvents(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		file, action, reason string
	}{
		{"create.json", "bumped", ""},
		{"update.json", "bumped", ""},
		{"update-secure.json", "bumped", ""},
		{"delete.json", "bumped", ""},
		{"label.json", "ignored", "a label does not change what composers read"},
		{"marker.json", "ignored", "the marker itself"},
		{"other-prefix.json", "ignored", "not under /ssr-mfe/"},
		{"scheduled.json", "ignored", "not a Parameter Store change"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			fake, h, _ := newHandler(t)
			r := invoke(t, h, tt.file)
			if r.Action != tt.action || r.Reason != tt.reason || r.Marker != "/ssr-mfe/_version" {
				t.Errorf("result %+v, want %s (%s)", r, tt.action, tt.reason)
			}
			puts := fake.Calls("PutParameter")
			value, ok := fake.Get("/ssr-mfe/_version")
			if tt.action == "bumped" {
				var ev markerlambda.Event
				data, _ := os.ReadFile(filepath.Join("testdata", tt.file))
				_ = json.Unmarshal(data, &ev)
				if puts != 1 || !ok || !strings.HasSuffix(value, " "+ev.Detail.Operation+" "+ev.Detail.Name) {
					t.Errorf("%d PutParameter calls; marker = %q, %v", puts, value, ok)
				}
			} else if puts != 0 || ok {
				t.Errorf("ignored, yet %d PutParameter calls; marker = %q", puts, value)
			}
		})
	}
}

// Two changes give two different marker values (and versions): readers
// need "changed", and get it.
func TestEveryChangeChangesTheMarker(t *testing.T) {
	t.Parallel()
	fake, h, _ := newHandler(t)
	invoke(t, h, "update.json")
	first, _ := fake.Get("/ssr-mfe/_version")
	invoke(t, h, "update.json")
	second, _ := fake.Get("/ssr-mfe/_version")
	if first == second {
		t.Errorf("two bumps left the same value %q", first)
	}
}

// A parameter written with another tool, then the event EventBridge
// delivers for it: the composer's next refresh serves it, and a refresh
// with nothing changed costs one call.
func TestDirectWriteIsServedAtTheNextRefresh(t *testing.T) {
	t.Parallel()
	fake, h, _ := newHandler(t)
	fake.Put("/ssr-mfe/reviews", "http://reviews-v1/", false)
	invoke(t, h, "update.json")
	src := ssmregistry.New(ssm.NewFromConfig(awstest.Config(fake.URL)), "/ssr-mfe/")
	serves := func() string {
		raws, err := src.Raws(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range raws {
			if r.ID == "reviews" {
				return string(r.Data)
			}
		}
		return ""
	}
	if got := serves(); got != "http://reviews-v1/" {
		t.Fatalf("serves %q", got)
	}
	byPath := fake.Calls("GetParametersByPath")
	if got := serves(); got != "http://reviews-v1/" || fake.Calls("GetParametersByPath") != byPath {
		t.Fatalf("an unchanged refresh read the tree again")
	}
	fake.Put("/ssr-mfe/reviews", "http://reviews-v2/", false) // e.g. CloudFormation
	invoke(t, h, "update.json")                               // the event for it
	invoke(t, h, "marker.json")                               // the event for the bump: ignored, no loop
	if got := serves(); got != "http://reviews-v2/" {
		t.Errorf("the refresh after the event serves %q", got)
	}
	if n := fake.Calls("PutParameter"); n != 2 {
		t.Errorf("%d PutParameter calls, want 2 (one per change)", n)
	}
}

func TestBumpFailureIsAnError(t *testing.T) {
	t.Parallel()
	fake, h, log := newHandler(t)
	h.Client = ssm.NewFromConfig(awstest.Config(fake.URL), func(o *ssm.Options) { o.RetryMaxAttempts = 1 })
	fake.SetDown(true)
	payload, _ := os.ReadFile(filepath.Join("testdata", "update.json"))
	if _, err := lambda.NewHandler(h.Handle).Invoke(context.Background(), payload); err == nil {
		t.Error("no error when the bump failed: Lambda would not retry")
	}
	if !strings.Contains(log.String(), "bump failed") {
		t.Errorf("log: %s", log)
	}
}

// FromEnv builds the real client from the standard environment, as in
// the Lambda runtime, here pointed at the fake.
func TestFromEnv(t *testing.T) {
	fake := awstest.NewSSM(t)
	for k, v := range awstest.Env("", fake.URL, "", "") {
		t.Setenv(k, v)
	}
	if _, err := markerlambda.FromEnv(context.Background(), os.Getenv, slog.Default()); err == nil {
		t.Error("no error without REGISTRY_PREFIX")
	}
	t.Setenv("REGISTRY_PREFIX", "/ssr-mfe")
	h, err := markerlambda.FromEnv(context.Background(), os.Getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if r := invoke(t, h, "create.json"); r.Action != "bumped" {
		t.Errorf("result %+v", r)
	}
	if _, ok := fake.Get("/ssr-mfe/_version"); !ok {
		t.Error("no marker written")
	}
}
