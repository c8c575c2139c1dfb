package fetch

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Event builds the API Gateway HTTP API (v2) event a Lambda or Step
// Functions fragment receives, so that an ordinary aws-lambda-go handler
// serves as a fragment.
func Event(req *Request) events.APIGatewayV2HTTPRequest {
	headers := make(map[string]string, len(req.Header)+1)
	if req.Slot != "" {
		headers[strings.ToLower(SlotHeader)] = req.Slot
	}
	var cookies []string
	for k, vs := range req.Header {
		if k == "Cookie" {
			for _, v := range vs {
				for _, c := range strings.Split(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						cookies = append(cookies, c)
					}
				}
			}
			continue
		}
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	var query map[string]string
	if req.RawQuery != "" {
		if q, err := url.ParseQuery(req.RawQuery); err == nil {
			query = make(map[string]string, len(q))
			for k, vs := range q {
				query[k] = strings.Join(vs, ",")
			}
		}
	}
	path := req.Path
	if path == "" {
		path = "/"
	}
	now := time.Now()
	return events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              "$default",
		RawPath:               path,
		RawQueryString:        req.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        req.PathParams,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  "$default",
			Stage:     "$default",
			RequestID: req.Header.Get("X-Request-Id"),
			Time:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    http.MethodGet,
				Path:      path,
				Protocol:  "HTTP/1.1",
				UserAgent: req.Header.Get("User-Agent"),
			},
		},
	}
}

// httpReply is the API Gateway proxy response shape a fragment function
// returns.
type httpReply struct {
	StatusCode        int                 `json:"statusCode"`
	Headers           map[string]string   `json:"headers"`
	MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
	Cookies           []string            `json:"cookies"`
	Body              string              `json:"body"`
	IsBase64Encoded   bool                `json:"isBase64Encoded"`
}

// parseReply reads a function's reply the way API Gateway does: a JSON
// string is the body with status 200; an object with statusCode is a proxy
// response; any other JSON is the body itself.
func parseReply(payload []byte) (*Response, error) {
	payload = bytes.TrimSpace(payload)
	resp := &Response{Status: http.StatusOK, Header: http.Header{}}
	var body []byte
	switch {
	case len(payload) == 0 || string(payload) == "null":
		body = nil
	case payload[0] == '"':
		var s string
		if err := json.Unmarshal(payload, &s); err != nil {
			return nil, fmt.Errorf("reply: %w", err)
		}
		body = []byte(s)
	case payload[0] == '{':
		var r httpReply
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(payload, &probe); err != nil {
			return nil, fmt.Errorf("reply: %w", err)
		}
		if _, ok := probe["statusCode"]; !ok {
			body = payload
			break
		}
		if err := json.Unmarshal(payload, &r); err != nil {
			return nil, fmt.Errorf("reply: %w", err)
		}
		resp.Status = r.StatusCode
		for k, v := range r.Headers {
			resp.Header.Set(k, v)
		}
		for k, vs := range r.MultiValueHeaders {
			for _, v := range vs {
				resp.Header.Add(k, v)
			}
		}
		for _, c := range r.Cookies {
			resp.Header.Add("Set-Cookie", c)
		}
		body = []byte(r.Body)
		if r.IsBase64Encoded {
			dec, err := base64.StdEncoding.DecodeString(r.Body)
			if err != nil {
				return nil, fmt.Errorf("reply body: %w", err)
			}
			body = dec
		}
	default:
		body = payload
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// Lambda fetches fragments by invoking Lambda functions synchronously.
type Lambda struct {
	client *lambda.Client
}

// NewLambda returns a Lambda transport.
func NewLambda(client *lambda.Client) *Lambda { return &Lambda{client: client} }

// FunctionError is a function that ran and failed.
type FunctionError struct {
	Kind    string // X-Amz-Function-Error: "Unhandled" or "Handled"
	Message string
}

func (e *FunctionError) Error() string {
	return "function error (" + e.Kind + "): " + e.Message
}

// Fetch implements Transport.
func (l *Lambda) Fetch(ctx context.Context, req *Request) (*Response, error) {
	payload, err := json.Marshal(Event(req))
	if err != nil {
		return nil, err
	}
	out, err := l.client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(req.Endpoint), Payload: payload})
	if err != nil {
		return nil, err
	}
	if out.FunctionError != nil {
		var fe struct {
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(out.Payload, &fe)
		return nil, &FunctionError{Kind: aws.ToString(out.FunctionError), Message: fe.ErrorMessage}
	}
	return parseReply(out.Payload)
}

// StepFunctions fetches fragments by running Express state machines
// synchronously.
type StepFunctions struct {
	client *sfn.Client
}

// NewStepFunctions returns a Step Functions transport.
func NewStepFunctions(client *sfn.Client) *StepFunctions { return &StepFunctions{client: client} }

// DisableHostPrefix is a client API option that stops the SDK from
// prefixing the host for StartSyncExecution ("sync-states..." on AWS): an
// overridden endpoint (LocalStack, a fake) has no such host.
func DisableHostPrefix(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("DisableEndpointHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}

// ErrExecution is a state machine run that did not succeed.
var ErrExecution = errors.New("state machine execution did not succeed")

// Fetch implements Transport. A SUCCEEDED execution's output is a JSON
// string of HTML, or an object with body (and optionally statusCode and
// headers); any other status is a failure.
func (s *StepFunctions) Fetch(ctx context.Context, req *Request) (*Response, error) {
	input, err := json.Marshal(Event(req))
	if err != nil {
		return nil, err
	}
	out, err := s.client.StartSyncExecution(ctx, &sfn.StartSyncExecutionInput{
		StateMachineArn: aws.String(req.Endpoint),
		Input:           aws.String(string(input)),
	})
	if err != nil {
		return nil, err
	}
	if out.Status != sfntypes.SyncExecutionStatusSucceeded {
		return nil, fmt.Errorf("%w: %s %s: %s", ErrExecution, out.Status, aws.ToString(out.Error), aws.ToString(out.Cause))
	}
	output := []byte(aws.ToString(out.Output))
	trimmed := bytes.TrimSpace(output)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var probe map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &probe); err != nil {
			return nil, fmt.Errorf("execution output: %w", err)
		}
		if _, ok := probe["body"]; !ok {
			return nil, fmt.Errorf("%w: output is an object without \"body\"", ErrExecution)
		}
		if _, ok := probe["statusCode"]; !ok {
			var b struct {
				Body string `json:"body"`
			}
			if err := json.Unmarshal(trimmed, &b); err != nil {
				return nil, fmt.Errorf("execution output: %w", err)
			}
			return &Response{Status: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(b.Body))}, nil
		}
	} else if len(trimmed) == 0 || trimmed[0] != '"' {
		return nil, fmt.Errorf("%w: output is neither a JSON string nor an object with \"body\"", ErrExecution)
	}
	return parseReply(trimmed)
}
