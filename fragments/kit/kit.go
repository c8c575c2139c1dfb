// Package kit makes a fragment handler behave well behind the composer,
// and lets the same handler run as an HTTP server or as an AWS Lambda
// function.
//
//	f := kit.Fragment{
//		Name:         "reviews",
//		CSS:          []string{"/static/reviews/reviews.css"},
//		CacheControl: "public, max-age=30, stale-while-revalidate=60",
//		Handler:      http.HandlerFunc(serveReviews), // reads kit.Param(r, "id")
//	}
//	http.ListenAndServe(":9001", f.HTTP())  // as a server
//	lambda.Start(f.Lambda())                // or as a Lambda function
//
// The composer sends a fragment the page's route parameters and query
// (in the query string over HTTP; as pathParameters and queryStringParameters
// in the Lambda event); Param reads them the same way in both.
package kit

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Fragment is a fragment's handler and what it declares.
type Fragment struct {
	Name string
	// CSS and JS are the fragment's assets. Entry puts them in the registry
	// entry, so the composer loads them in the page head before the
	// fragment answers; with LinkHeaders they are also sent as Link
	// headers, for a composer that does not know them.
	CSS, JS     []string
	LinkHeaders bool
	// CacheControl is set on every 2xx answer that does not set its own.
	// The composer's fragment cache and the page's Cache-Control follow it.
	CacheControl string
	Handler      http.Handler
}

// Param returns a route parameter or query value of the page.
func Param(r *http.Request, name string) string {
	return r.URL.Query().Get(name)
}

// Entry returns the registry entry for the fragment at endpoint, as JSON.
func (f Fragment) Entry(endpoint string) []byte {
	e := map[string]any{"endpoint": endpoint}
	if len(f.CSS)+len(f.JS) > 0 {
		e["assets"] = map[string][]string{"css": f.CSS, "js": f.JS}
	}
	b, _ := json.Marshal(e)
	return b
}

// HTTP returns the fragment as an http.Handler.
func (f Fragment) HTTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.Handler.ServeHTTP(&headerWriter{ResponseWriter: w, f: &f}, r)
	})
}

// headerWriter adds the fragment's headers just before its status goes out.
type headerWriter struct {
	http.ResponseWriter
	f     *Fragment
	wrote bool
}

func (w *headerWriter) WriteHeader(status int) {
	if !w.wrote {
		w.wrote = true
		h := w.Header()
		if status >= 200 && status < 300 {
			if w.f.CacheControl != "" && h.Get("Cache-Control") == "" {
				h.Set("Cache-Control", w.f.CacheControl)
			}
			if w.f.LinkHeaders {
				for _, u := range w.f.CSS {
					h.Add("Link", "<"+u+">; rel=stylesheet")
				}
				for _, u := range w.f.JS {
					h.Add("Link", "<"+u+">; rel=modulepreload")
				}
			}
		}
		if h.Get("Content-Type") == "" {
			h.Set("Content-Type", "text/html; charset=utf-8")
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *headerWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

func (w *headerWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// LambdaHandler is what lambda.Start takes for an API Gateway HTTP API (v2)
// event, the event the composer sends.
type LambdaHandler func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Lambda returns the fragment as a Lambda handler: the event becomes an
// http.Request for the same Handler, and its answer the proxy response.
func (f Fragment) Lambda() LambdaHandler {
	h := f.HTTP()
	return func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		r, err := Request(ctx, ev)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusBadRequest, Body: "bad event"}, nil
		}
		rec := &recorder{header: http.Header{}}
		h.ServeHTTP(rec, r)
		return rec.response(), nil
	}
}

// Request turns an API Gateway v2 event into an http.Request: path
// parameters join the query (without overriding it), cookies become a
// Cookie header.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	q, err := url.ParseQuery(ev.RawQueryString)
	if err != nil {
		return nil, err
	}
	for k, v := range ev.PathParameters {
		if !q.Has(k) {
			q.Set(k, v)
		}
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	path := ev.RawPath
	if path == "" {
		path = "/"
	}
	var body io.Reader = strings.NewReader(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	r, err := http.NewRequestWithContext(ctx, method, (&url.URL{Path: path, RawQuery: q.Encode()}).String(), body)
	if err != nil {
		return nil, err
	}
	for k, v := range ev.Headers {
		r.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	return r, nil
}

// recorder collects a handler's answer for a Lambda response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

func (r *recorder) response() events.APIGatewayV2HTTPResponse {
	status := r.status
	if status == 0 {
		status = http.StatusOK
	}
	resp := events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: map[string]string{}, MultiValueHeaders: map[string][]string{}}
	for k, vs := range r.header {
		switch {
		case k == "Set-Cookie":
			resp.Cookies = append(resp.Cookies, vs...)
		case len(vs) == 1:
			resp.Headers[k] = vs[0]
		default:
			resp.MultiValueHeaders[k] = vs
		}
	}
	if utf8.Valid(r.body.Bytes()) {
		resp.Body = r.body.String()
	} else {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(r.body.Bytes()), true
	}
	return resp
}
