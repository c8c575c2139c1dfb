package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/fragments"
)

// awsWorld is a set of fake AWS services with a template folder and
// registry published to them.
type awsWorld struct {
	s3     *awstest.S3
	ssm    *awstest.SSM
	lambda *awstest.Lambda
	sfn    *awstest.StepFunctions
	http   string // an HTTP fragment's URL
	env    map[string]string
}

const bucketURI = "s3://pages/site/"

func newAWSWorld(t *testing.T) *awsWorld {
	t.Helper()
	w := &awsWorld{
		s3:     awstest.NewS3(t, "pages"),
		ssm:    awstest.NewSSM(t),
		lambda: awstest.NewLambda(t),
		sfn:    awstest.NewStepFunctions(t),
	}
	w.env = awstest.Env(w.s3.URL, w.ssm.URL, w.lambda.URL, w.sfn.URL)
	frag := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, "[http id=%s]", r.URL.Query().Get("id"))
	}))
	t.Cleanup(frag.Close)
	w.http = frag.URL

	// An ordinary API Gateway v2 handler, as a fragment team would write it.
	w.lambda.Handle("reviews", func(ctx context.Context, payload []byte) ([]byte, error) {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		if ev.PathParameters["id"] == "fail" {
			return nil, errors.New("reviews database unreachable")
		}
		return json.Marshal(events.APIGatewayV2HTTPResponse{
			StatusCode: 200,
			Headers:    map[string]string{"Content-Type": "text/html"},
			Body:       fmt.Sprintf("[lambda id=%s path=%s lang=%s]", ev.PathParameters["id"], ev.RawPath, ev.Headers["accept-language"]),
		})
	})
	w.sfn.Handle(awstest.StateMachineARN("recs"), func(ctx context.Context, input string) awstest.Execution {
		var ev events.APIGatewayV2HTTPRequest
		_ = json.Unmarshal([]byte(input), &ev)
		if ev.PathParameters["id"] == "fail" {
			return awstest.Execution{Status: "FAILED", Error: "States.TaskFailed", Cause: "arn:aws:lambda:secret internals"}
		}
		out, _ := json.Marshal(map[string]string{"body": "[sfn id=" + ev.PathParameters["id"] + "]"})
		return awstest.Execution{Status: "SUCCEEDED", Output: string(out)}
	})

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/p/{id}": "page.html"}`)
	writeFile(t, filepath.Join(dir, "page.html"), `v1 <micro-frontend id="web"/> <micro-frontend id="reviews">lambda-fallback</micro-frontend> <micro-frontend id="recs">sfn-fallback</micro-frontend>`)
	w.publish(t, dir)

	w.ssm.Put("/ssr-mfe/web", w.http, false)
	w.ssm.Put("/ssr-mfe/reviewsARN", awstest.FunctionARN("reviews"), false) // the original sample's naming
	w.ssm.Put("/ssr-mfe/recs", fmt.Sprintf(`{"endpoint": %q, "timeout": "2s"}`, awstest.StateMachineARN("recs")), true)
	for i := range 12 { // more than one page of GetParametersByPath
		w.ssm.Put("/ssr-mfe/other/f"+strconv.Itoa(i), "http://127.0.0.1:9/", false)
	}
	w.ssm.Put("/elsewhere/web", "http://127.0.0.1:9/not-ours", false)
	return w
}

// publish runs `composer publish` against the fake S3.
func (w *awsWorld) publish(t *testing.T, dir string) {
	t.Helper()
	var out strings.Builder
	if err := run(context.Background(), []string{"composer", "publish", dir, bucketURI}, w.getenv, &out, io.Discard); err != nil {
		t.Fatalf("publish: %v\n%s", err, out.String())
	}
}

func (w *awsWorld) getenv(k string) string { return w.env[k] }

func (w *awsWorld) start(t *testing.T, extra map[string]string) *instance {
	t.Helper()
	env := maps.Clone(w.env)
	env["COMPOSER_TEMPLATES"] = bucketURI
	env["COMPOSER_REGISTRY"] = "ssm:/ssr-mfe/"
	env["COMPOSER_REFRESH"] = "50ms"
	maps.Copy(env, extra)
	return start(t, env)
}

func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAWSPageFromS3AndSSMWithHTTPLambdaAndStepFunctions(t *testing.T) {
	w := newAWSWorld(t)
	inst := w.start(t, nil)
	status, page := get(t, inst.base+"/p/42", http.Header{"Accept-Language": {"de"}})
	want := "v1 [http id=42] [lambda id=42 path=/p/42 lang=de] [sfn id=42]"
	if status != 200 || page != want {
		t.Errorf("page: %d %q\nwant 200 %q\nlogs:\n%s", status, page, want, inst.logs)
	}
	if n := w.ssm.Calls("GetParametersByPath"); n < 2 {
		t.Errorf("GetParametersByPath called %d times; want pagination (14 parameters, 10 a page)", n)
	}
}

func TestAWSFunctionAndExecutionFailuresFallBack(t *testing.T) {
	w := newAWSWorld(t)
	inst := w.start(t, nil)
	status, page := get(t, inst.base+"/p/fail", nil)
	if status != 200 || page != "v1 [http id=fail] lambda-fallback sfn-fallback" {
		t.Errorf("page: %d %q", status, page)
	}
	if strings.Contains(page, "secret internals") || strings.Contains(page, "arn:") {
		t.Errorf("page leaks internals: %q", page)
	}
	logs := inst.logs.String()
	if !strings.Contains(logs, "reviews database unreachable") || !strings.Contains(logs, "States.TaskFailed") {
		t.Errorf("failures not logged:\n%s", logs)
	}
}

func TestAWSTemplateChangesAndUnchangedBucket(t *testing.T) {
	w := newAWSWorld(t)
	inst := w.start(t, nil)
	if _, page := get(t, inst.base+"/p/1", nil); !strings.HasPrefix(page, "v1 ") {
		t.Fatalf("page: %q", page)
	}
	gets, lists := w.s3.Calls("GetObject"), w.s3.Calls("ListObjectsV2")
	eventually(t, "three more refreshes", func() bool { return w.s3.Calls("ListObjectsV2") >= lists+3 })
	if n := w.s3.Calls("GetObject"); n != gets {
		t.Errorf("an unchanged bucket cost %d GetObject calls; want none", n-gets)
	}

	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/p/{id}": "page.html"}`)
	writeFile(t, filepath.Join(dir, "page.html"), `v2 <micro-frontend id="web"/>`)
	w.publish(t, dir)
	eventually(t, "changed template served", func() bool {
		_, page := get(t, inst.base+"/p/1", nil)
		return page == "v2 [http id=1]"
	})

	// A broken template uploaded behind publish's back is refused.
	brokenDir := t.TempDir()
	writeFile(t, filepath.Join(brokenDir, "page.html"), "v3\n<micro-frontend id=\"web\" errorbehaviour=\"sometimes\"/>")
	putRaw(t, w, "site/page.html", filepath.Join(brokenDir, "page.html"))
	eventually(t, "broken template logged with key and line", func() bool {
		return strings.Contains(inst.logs.String(), `"source":"s3://pages/site/","file":"page.html","line":2`)
	})
	if _, page := get(t, inst.base+"/p/1", nil); page != "v2 [http id=1]" {
		t.Errorf("after a broken upload: %q, want the last good template", page)
	}
}

// putRaw uploads one file without validation, as a careless pipeline would.
func putRaw(t *testing.T, w *awsWorld, key, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(awstest.Config(w.s3.URL), func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("pages"), Key: aws.String(key), Body: bytes.NewReader(data),
	}); err != nil {
		t.Fatal(err)
	}
}

func TestAWSRegistryChangesAndMalformedEntry(t *testing.T) {
	w := newAWSWorld(t)
	other := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, "[other]") }))
	defer other.Close()
	inst := w.start(t, nil)

	w.ssm.Put("/ssr-mfe/web", other.URL, false)
	eventually(t, "new endpoint used", func() bool {
		_, page := get(t, inst.base+"/p/1", nil)
		return strings.HasPrefix(page, "v1 [other]")
	})

	w.ssm.Put("/ssr-mfe/web", `{"endpoint": "ftp://broken"}`, false)
	eventually(t, "malformed entry logged with its parameter name", func() bool {
		return strings.Contains(inst.logs.String(), `"parameter":"/ssr-mfe/web"`)
	})
	if _, page := get(t, inst.base+"/p/1", nil); !strings.HasPrefix(page, "v1 [other]") {
		t.Errorf("after a malformed entry: %q, want its last good value", page)
	}
}

func metricValue(t *testing.T, admin, name, labels string) float64 {
	t.Helper()
	_, body := get(t, admin+"/metrics", nil)
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name+labels) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no metric %s%s in:\n%s", name, labels, body)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

func TestAWSOutagesKeepServing(t *testing.T) {
	w := newAWSWorld(t)
	inst := w.start(t, nil)
	_, before := get(t, inst.base+"/p/7", nil)

	w.s3.SetDown(true)
	w.ssm.SetDown(true)
	eventually(t, "outage logged", func() bool {
		l := inst.logs.String()
		return strings.Contains(l, "templates source unavailable; serving the last good set") &&
			strings.Contains(l, "registry source unavailable; the last good entries stay in use") &&
			strings.Contains(l, `"stale_for_ms"`)
	})
	if status, page := get(t, inst.base+"/p/7", nil); status != 200 || page != before {
		t.Errorf("during the outage: %d %q, want %q", status, page, before)
	}
	if v := metricValue(t, inst.admin, "composer_source_errors_total", `{source="templates"}`); v < 1 {
		t.Errorf("template source errors = %v", v)
	}
	if v := metricValue(t, inst.admin, "composer_source_age_seconds", `{source="registry"}`); v <= 0 {
		t.Errorf("registry age = %v, want > 0 during the outage", v)
	}
	if status, _ := get(t, inst.base+"/readyz", nil); status != 200 {
		t.Errorf("readyz during an outage with a good copy: %d, want 200", status)
	}

	w.s3.SetDown(false)
	w.ssm.SetDown(false)
	eventually(t, "recovery logged", func() bool {
		return strings.Contains(inst.logs.String(), "registry source available again")
	})

	// Throttling: the SDK backs off and retries; the page never notices.
	calls := w.ssm.Calls("GetParametersByPath")
	w.ssm.Throttle(2)
	eventually(t, "throttled calls retried", func() bool { return w.ssm.Calls("GetParametersByPath") >= calls+4 })
	if status, page := get(t, inst.base+"/p/7", nil); status != 200 || page != before {
		t.Errorf("while throttled: %d %q", status, page)
	}
}

func TestAWSColdStartFromSnapshot(t *testing.T) {
	w := newAWSWorld(t)
	snap := t.TempDir()
	first := w.start(t, map[string]string{"COMPOSER_SNAPSHOT_DIR": snap})
	_, want := get(t, first.base+"/p/3", nil)
	first.stop(t)
	for _, f := range []string{"templates.json", "registry.json"} {
		if _, err := os.Stat(filepath.Join(snap, f)); err != nil {
			t.Fatalf("snapshot %s not written: %v", f, err)
		}
	}

	w.s3.SetDown(true)
	w.ssm.SetDown(true)
	second := w.start(t, map[string]string{"COMPOSER_SNAPSHOT_DIR": snap})
	if status, _ := get(t, second.base+"/readyz", nil); status != 200 {
		t.Errorf("readyz from a snapshot: %d", status)
	}
	if status, page := get(t, second.base+"/p/3", nil); status != 200 || page != want {
		t.Errorf("from the snapshot: %d %q, want %q", status, page, want)
	}
	if !strings.Contains(second.logs.String(), "serving the snapshot") {
		t.Errorf("snapshot start not logged:\n%s", second.logs)
	}
	second.stop(t)

	third := w.start(t, map[string]string{"COMPOSER_SNAPSHOT_DIR": t.TempDir()})
	status, body := get(t, third.base+"/readyz", nil)
	if status != 503 || !strings.Contains(body, "templates not loaded") || !strings.Contains(body, "registry not loaded") {
		t.Errorf("readyz with no snapshot: %d %q", status, body)
	}
	expect503(t, third.base+"/p/3")
	logs := third.logs.String()
	if strings.Contains(logs, "last good") {
		t.Errorf("the log speaks of a last good copy; there is none:\n%s", logs)
	}
	for _, want := range []string{
		"not ready: templates could not be loaded and there is no usable snapshot",
		"not ready: the registry could not be loaded and there is no usable snapshot",
		`"source":"s3://pages/site/"`, `"source":"ssm:/ssr-mfe/"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// expect503 checks that u answers as a page does before the first good
// load: 503, with Retry-After, not to be stored.
func expect503(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: %d, Retry-After %q, Cache-Control %q; want 503 with Retry-After and no-store",
			u, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
	}
}

// S3 holding a set that does not compile at a cold start: with no
// snapshot every page is a 503 and nothing speaks of a last good set;
// with one, the snapshot serves and /readyz says a change was refused.
func TestAWSColdStartWithAnInvalidSet(t *testing.T) {
	w := newAWSWorld(t)
	snap := t.TempDir()
	first := w.start(t, map[string]string{"COMPOSER_SNAPSHOT_DIR": snap})
	_, want := get(t, first.base+"/p/3", nil)
	first.stop(t)

	broken := filepath.Join(t.TempDir(), "page.html")
	writeFile(t, broken, "v9\n<micro-frontend id=\"web\" async errorbehaviour=\"error\"/>")
	putRaw(t, w, "site/page.html", broken)

	cold := w.start(t, map[string]string{"COMPOSER_SNAPSHOT_DIR": t.TempDir()})
	if status, body := get(t, cold.base+"/readyz", nil); status != 503 || !strings.Contains(body, "templates not loaded") {
		t.Errorf("readyz: %d %q", status, body)
	}
	expect503(t, cold.base+"/p/3")
	expect503(t, cold.base+"/no/such/page")
	if logs := cold.logs.String(); strings.Contains(logs, "last good") || !strings.Contains(logs, `"file":"page.html","line":2`) {
		t.Errorf("logs: want the template error and no last good set:\n%s", logs)
	}
	if v := metricValue(t, cold.admin, "composer_source_refused_total", `{source="templates"}`); v != 1 {
		t.Errorf("refused = %v, want 1", v)
	}
	cold.stop(t)

	fromSnap := w.start(t, map[string]string{"COMPOSER_SNAPSHOT_DIR": snap})
	if status, page := get(t, fromSnap.base+"/p/3", nil); status != 200 || page != want {
		t.Errorf("from the snapshot: %d %q, want %q", status, page, want)
	}
	if status, body := get(t, fromSnap.base+"/readyz", nil); status != 200 || !strings.Contains(body, "templates: changes refused since") {
		t.Errorf("readyz from the snapshot with a refused set: %d %q", status, body)
	}
}

func TestPublishRefusesInvalidFolder(t *testing.T) {
	w := &awsWorld{s3: awstest.NewS3(t, "pages")}
	w.env = awstest.Env(w.s3.URL, "", "", "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/": "a.html"}`)
	writeFile(t, filepath.Join(dir, "a.html"), "<micro-frontend/>")
	writeFile(t, filepath.Join(dir, "b.html"), "fine")
	var out strings.Builder
	err := run(context.Background(), []string{"composer", "publish", dir, bucketURI}, w.getenv, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "nothing was uploaded") {
		t.Errorf("publish of an invalid folder: %v", err)
	}
	if !strings.Contains(out.String(), filepath.Join(dir, "a.html")+":1: <micro-frontend> without id") {
		t.Errorf("output: %q", out.String())
	}
	if n := w.s3.Calls("PutObject"); n != 0 {
		t.Errorf("%d objects uploaded, want none", n)
	}
}

func TestRegister(t *testing.T) {
	w := &awsWorld{ssm: awstest.NewSSM(t)}
	w.env = awstest.Env("", w.ssm.URL, "", "")
	var out strings.Builder
	err := run(context.Background(), []string{"composer", "register", "reviews", `{"endpoint": "gopher://x"}`}, w.getenv, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `scheme "gopher"`) {
		t.Errorf("register of a malformed entry: %v", err)
	}
	if n := w.ssm.Calls("PutParameter"); n != 0 {
		t.Errorf("PutParameter called %d times for a malformed entry", n)
	}
	entry := `{"endpoint": "https://reviews.internal/fragment", "timeout": "300ms"}`
	for range 2 { // the second overwrites
		if err := run(context.Background(), []string{"composer", "register", "-prefix", "/shop/", "reviews", entry}, w.getenv, &out, io.Discard); err != nil {
			t.Fatalf("register: %v", err)
		}
	}
	if v, ok := w.ssm.Get("/shop/reviews"); !ok || v != entry {
		t.Errorf("parameter = %q, %v", v, ok)
	}
	if !strings.Contains(out.String(), "registered /shop/reviews") {
		t.Errorf("output: %q", out.String())
	}
}

// The demo's reviews fragment, as its team ships it, runs as a Lambda
// function behind the composer: the same kit.Fragment as over HTTP.
func TestReviewsFragmentAsLambda(t *testing.T) {
	fake := awstest.NewLambda(t)
	handler := fragments.ReviewsFragment().Lambda()
	fake.Handle("reviews", func(ctx context.Context, payload []byte) ([]byte, error) {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		resp, err := handler(ctx, ev)
		if err != nil {
			return nil, err
		}
		return json.Marshal(resp)
	})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "routes.json"), `{"/product/{id}": "p.html"}`)
	writeFile(t, filepath.Join(dir, "p.html"), `<main><micro-frontend id="reviews">fallback</micro-frontend></main>`)
	regFile := filepath.Join(t.TempDir(), "registry.json")
	writeFile(t, regFile, fmt.Sprintf(`{"reviews": %q}`, awstest.FunctionARN("reviews")))
	env := awstest.Env("", "", fake.URL, "")
	env["COMPOSER_TEMPLATES"], env["COMPOSER_REGISTRY"] = dir, regFile
	inst := start(t, env)
	status, page := get(t, inst.base+"/product/1", nil)
	if status != 200 || !strings.Contains(page, "Clever premise, slightly long in the middle.") || !strings.Contains(page, `action="/api/reviews/1"`) {
		t.Errorf("page: %d %.300q", status, page)
	}
}
