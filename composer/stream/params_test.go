package stream_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ssr-mfe/composer/composer/fetch"
	"github.com/ssr-mfe/composer/composer/registry"
)

// eventTransport records the event a function fragment would receive.
type eventTransport struct {
	mu     sync.Mutex
	events []events.APIGatewayV2HTTPRequest
}

func (e *eventTransport) Fetch(ctx context.Context, req *fetch.Request) (*fetch.Response, error) {
	e.mu.Lock()
	e.events = append(e.events, fetch.Event(req))
	e.mu.Unlock()
	return &fetch.Response{Status: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok"))}, nil
}

// A function fragment's event follows the same precedence as an HTTP
// fragment's query: route parameters over the page's query, one value a
// name, never both.
func TestFunctionEventParameterPrecedence(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rec := &eventTransport{}
	e.composer.Fetch = rec
	e.register("f", registry.Entry{Endpoint: "arn:aws:lambda:eu-west-1:123456789012:function:f"})
	get(t, e.page(`<micro-frontend id=f/>`, map[string]string{"id": "a/b"})+"/?id=evil&id=worse&lang=de", nil)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.events) != 1 {
		t.Fatalf("%d events", len(rec.events))
	}
	ev := rec.events[0]
	if want := map[string]string{"id": "a/b", "lang": "de"}; !reflect.DeepEqual(ev.QueryStringParameters, want) {
		t.Errorf("queryStringParameters %v, want %v", ev.QueryStringParameters, want)
	}
	if ev.RawQueryString != "id=a%2Fb&lang=de" {
		t.Errorf("rawQueryString %q", ev.RawQueryString)
	}
	if want := map[string]string{"id": "a/b"}; !reflect.DeepEqual(ev.PathParameters, want) {
		t.Errorf("pathParameters %v, want %v", ev.PathParameters, want)
	}
}
