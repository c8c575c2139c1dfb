package fetch_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/ssr-mfe/composer/composer/awstest"
	"github.com/ssr-mfe/composer/composer/fetch"
)

func body(t *testing.T, r *fetch.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLambdaTransport(t *testing.T) {
	t.Parallel()
	fake := awstest.NewLambda(t)
	var seen events.APIGatewayV2HTTPRequest
	reply := func(v any) awstest.LambdaFunc {
		return func(ctx context.Context, payload []byte) ([]byte, error) {
			if err := json.Unmarshal(payload, &seen); err != nil {
				return nil, err
			}
			return json.Marshal(v)
		}
	}
	fake.Handle("string", reply("<p>bare</p>"))
	fake.Handle("proxy", reply(map[string]any{"statusCode": 404, "headers": map[string]string{"Cache-Control": "max-age=5"}, "body": "PGI+Z29uZTwvYj4=", "isBase64Encoded": true}))
	fake.Handle("fails", func(context.Context, []byte) ([]byte, error) { return nil, errors.New("boom") })
	fake.Handle("slow", func(ctx context.Context, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	client := lambda.NewFromConfig(awstest.Config(fake.URL))
	l := fetch.NewLambda(client)
	req := &fetch.Request{
		Endpoint:   awstest.FunctionARN("string"),
		Path:       "/product/7",
		RawQuery:   "id=7&lang=de&lang=fr",
		PathParams: map[string]string{"id": "7"},
		Header:     http.Header{"Accept-Language": {"de"}, "Cookie": {"a=1; b=2"}, "X-Request-Id": {"rid"}},
	}
	resp, err := l.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 200 || body(t, resp) != "<p>bare</p>" {
		t.Errorf("bare string reply: %d", resp.Status)
	}
	if seen.Version != "2.0" || seen.RawPath != "/product/7" || seen.RawQueryString != "id=7&lang=de&lang=fr" ||
		seen.PathParameters["id"] != "7" || seen.QueryStringParameters["lang"] != "de,fr" ||
		seen.Headers["accept-language"] != "de" || seen.RequestContext.RequestID != "rid" ||
		seen.RequestContext.HTTP.Method != "GET" || strings.Join(seen.Cookies, "|") != "a=1|b=2" || seen.Headers["cookie"] != "" {
		t.Errorf("event = %+v", seen)
	}

	req.Endpoint = "proxy" // a bare function name
	resp, err = l.Fetch(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != 404 || resp.Header.Get("Cache-Control") != "max-age=5" || body(t, resp) != "<b>gone</b>" {
		t.Errorf("proxy reply: %d %v", resp.Status, resp.Header)
	}

	req.Endpoint = "fails"
	var fe *fetch.FunctionError
	if _, err := l.Fetch(context.Background(), req); !errors.As(err, &fe) || fe.Message != "boom" {
		t.Errorf("function error: %v", err)
	}
	req.Endpoint = "missing"
	if _, err := l.Fetch(context.Background(), req); err == nil {
		t.Error("missing function: no error")
	}
	req.Endpoint = "slow"
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := l.Fetch(ctx, req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: %v", err)
	}
}

func TestStepFunctionsTransport(t *testing.T) {
	t.Parallel()
	fake := awstest.NewStepFunctions(t)
	machine := func(ex awstest.Execution) awstest.StateMachine {
		return func(context.Context, string) awstest.Execution { return ex }
	}
	fake.Handle(awstest.StateMachineARN("string"), machine(awstest.Execution{Status: "SUCCEEDED", Output: `"<p>html</p>"`}))
	fake.Handle(awstest.StateMachineARN("object"), machine(awstest.Execution{Status: "SUCCEEDED", Output: `{"body": "<p>body</p>", "extra": 1}`}))
	fake.Handle(awstest.StateMachineARN("proxy"), machine(awstest.Execution{Status: "SUCCEEDED", Output: `{"statusCode": 503, "body": "x"}`}))
	fake.Handle(awstest.StateMachineARN("nobody"), machine(awstest.Execution{Status: "SUCCEEDED", Output: `{"html": "<p/>"}`}))
	fake.Handle(awstest.StateMachineARN("number"), machine(awstest.Execution{Status: "SUCCEEDED", Output: `42`}))
	fake.Handle(awstest.StateMachineARN("failed"), machine(awstest.Execution{Status: "FAILED", Error: "States.TaskFailed", Cause: "boom"}))
	fake.Handle(awstest.StateMachineARN("timedout"), machine(awstest.Execution{Status: "TIMED_OUT"}))
	// The real client; without DisableHostPrefix it would dial
	// "sync-127.0.0.1", as the composer would with LocalStack.
	client := sfn.NewFromConfig(awstest.Config(fake.URL), func(o *sfn.Options) { o.APIOptions = append(o.APIOptions, fetch.DisableHostPrefix) })
	s := fetch.NewStepFunctions(client)
	for _, tt := range []struct {
		name, want string
		status     int
		wantErr    bool
	}{
		{"string", "<p>html</p>", 200, false},
		{"object", "<p>body</p>", 200, false},
		{"proxy", "x", 503, false},
		{"nobody", "", 0, true},
		{"number", "", 0, true},
		{"failed", "", 0, true},
		{"timedout", "", 0, true},
		{"unknown", "", 0, true},
	} {
		resp, err := s.Fetch(context.Background(), &fetch.Request{Endpoint: awstest.StateMachineARN(tt.name), Header: http.Header{}})
		if tt.wantErr {
			if err == nil {
				t.Errorf("%s: no error", tt.name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if got := body(t, resp); resp.Status != tt.status || got != tt.want {
			t.Errorf("%s: %d %q, want %d %q", tt.name, resp.Status, got, tt.status, tt.want)
		}
	}
}
