// Package awstest runs local servers that speak the AWS wire protocols the
// composer uses, so that tests drive the real SDK clients with no account
// and no network: S3 (gofakes3), SSM Parameter Store (JSON 1.1), Lambda
// Invoke (REST) and Step Functions StartSyncExecution (JSON 1.0).
//
// Each fake can be made to fail (down, throttling) and counts its calls.
// Point a client at one with Config(url).
package awstest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Region is the region every fake answers for.
const Region = "eu-west-1"

// Account is the account id in the fakes' ARNs.
const Account = "123456789012"

// Config returns an AWS config whose clients talk to endpoint with static
// test credentials, and checksums on as LoadDefaultConfig sets them (a
// gofakes3 object overwritten without a checksum keeps the old one).
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:                     Region,
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		BaseEndpoint:               aws.String(endpoint),
		HTTPClient:                 &http.Client{Timeout: 10 * time.Second},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	}
}

// Env returns the environment variables that point the composer's AWS
// clients at the fakes; pass "" for a fake that is not used.
func Env(s3, ssm, lambda, sfn string) map[string]string {
	env := map[string]string{
		"AWS_REGION":                Region,
		"AWS_ACCESS_KEY_ID":         "AKIDTEST",
		"AWS_SECRET_ACCESS_KEY":     "secret",
		"AWS_EC2_METADATA_DISABLED": "true",
	}
	for k, v := range map[string]string{"AWS_ENDPOINT_URL_S3": s3, "AWS_ENDPOINT_URL_SSM": ssm, "AWS_ENDPOINT_URL_LAMBDA": lambda, "AWS_ENDPOINT_URL_SFN": sfn} {
		if v != "" {
			env[k] = v
		}
	}
	return env
}

// faults is shared by the fakes: an outage switch, throttling, call counts.
type faults struct {
	mu       sync.Mutex
	down     bool
	throttle int
	calls    map[string]int
}

// SetDown makes every call fail with a 503 until SetDown(false).
func (f *faults) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// Throttle makes the next n calls fail with a throttling error.
func (f *faults) Throttle(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = n
}

// Calls returns how many times op was called (failed calls included).
func (f *faults) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

// admit counts a call and says which fault, if any, answers it: "" (none),
// "down" or "throttle".
func (f *faults) admit(op string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[op]++
	switch {
	case f.down:
		return "down"
	case f.throttle > 0:
		f.throttle--
		return "throttle"
	}
	return ""
}

// jsonError writes an error the way the AWS JSON protocols do.
func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// fault answers a call with its injected fault and reports whether it did.
func (f *faults) fault(w http.ResponseWriter, op, throttleCode string) bool {
	switch f.admit(op) {
	case "down":
		jsonError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "service unavailable (fake outage)")
		return true
	case "throttle":
		jsonError(w, http.StatusBadRequest, throttleCode, "Rate exceeded")
		return true
	}
	return false
}

// S3 is an in-memory S3 (gofakes3) with an outage switch and call counts
// by operation ("GetObject", "ListObjectsV2", "PutObject").
type S3 struct {
	faults
	URL string
}

// NewS3 starts a fake S3 and creates the buckets.
func NewS3(t testing.TB, buckets ...string) *S3 {
	t.Helper()
	backend := s3mem.New()
	for _, b := range buckets {
		if err := backend.CreateBucket(b); err != nil {
			t.Fatal(err)
		}
	}
	fake := gofakes3.New(backend).Server()
	s := &S3{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := s3Op(r)
		if s.admit(op) == "down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>fake outage</Message></Error>`)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// s3Op names a path-style S3 request's operation, roughly.
func s3Op(r *http.Request) string {
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)
	hasKey := len(parts) == 2 && parts[1] != ""
	switch {
	case r.Method == http.MethodGet && hasKey:
		return "GetObject"
	case r.Method == http.MethodHead && hasKey:
		return "HeadObject"
	case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		return "ListObjectsV2"
	case r.Method == http.MethodGet:
		return "ListObjects"
	case r.Method == http.MethodPut && hasKey:
		return "PutObject"
	case r.Method == http.MethodDelete && hasKey:
		return "DeleteObject"
	}
	return r.Method + " " + r.URL.Path
}

// SSM is a fake Parameter Store: GetParametersByPath (paginated, 10 per
// page like the real service), GetParameter and PutParameter.
type SSM struct {
	faults
	URL    string
	mu     sync.Mutex
	params map[string]ssmParam
}

type ssmParam struct {
	Value, Type string
	Version     int64
	Modified    time.Time
}

// NewSSM starts a fake SSM.
func NewSSM(t testing.TB) *SSM {
	t.Helper()
	s := &SSM{params: map[string]ssmParam{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// Put stores a parameter as a team would (type String, or SecureString).
func (s *SSM) Put(name, value string, secure bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	typ := "String"
	if secure {
		typ = "SecureString"
	}
	p := s.params[name]
	s.params[name] = ssmParam{Value: value, Type: typ, Version: p.Version + 1, Modified: time.Now()}
}

// Delete removes a parameter.
func (s *SSM) Delete(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.params, name)
}

// Get returns a parameter's value.
func (s *SSM) Get(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.params[name]
	return p.Value, ok
}

func (s *SSM) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, "AmazonSSM.")
	if r.Method != http.MethodPost || !ok {
		jsonError(w, http.StatusBadRequest, "UnknownOperationException", "unknown target "+target)
		return
	}
	if s.fault(w, op, "ThrottlingException") {
		return
	}
	var in struct {
		Path           string
		Recursive      bool
		WithDecryption bool
		NextToken      string
		MaxResults     int
		Name           string
		Value          string
		Type           string
		Overwrite      bool
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		jsonError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch op {
	case "GetParametersByPath":
		s.getByPath(w, in.Path, in.Recursive, in.WithDecryption, in.NextToken, in.MaxResults)
	case "GetParameter":
		s.mu.Lock()
		p, ok := s.params[in.Name]
		s.mu.Unlock()
		if !ok {
			jsonError(w, http.StatusBadRequest, "ParameterNotFound", "")
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"Parameter": paramJSON(in.Name, p, in.WithDecryption)})
	case "PutParameter":
		s.mu.Lock()
		p, exists := s.params[in.Name]
		if exists && !in.Overwrite {
			s.mu.Unlock()
			jsonError(w, http.StatusBadRequest, "ParameterAlreadyExists", "The parameter already exists.")
			return
		}
		typ := in.Type
		if typ == "" {
			typ = "String"
		}
		p = ssmParam{Value: in.Value, Type: typ, Version: p.Version + 1, Modified: time.Now()}
		s.params[in.Name] = p
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"Version": p.Version, "Tier": "Standard"})
	default:
		jsonError(w, http.StatusBadRequest, "UnknownOperationException", op+" is not faked")
	}
}

func (s *SSM) getByPath(w http.ResponseWriter, path string, recursive, decrypt bool, token string, max int) {
	if max <= 0 || max > 10 {
		max = 10
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	s.mu.Lock()
	var names []string
	for name := range s.params {
		rest, ok := strings.CutPrefix(name, path)
		if !ok || rest == "" || (!recursive && strings.Contains(rest, "/")) {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	start, _ := strconv.Atoi(token)
	if start > len(names) {
		start = len(names)
	}
	end := min(start+max, len(names))
	out := []map[string]any{}
	for _, name := range names[start:end] {
		out = append(out, paramJSON(name, s.params[name], decrypt))
	}
	s.mu.Unlock()
	resp := map[string]any{"Parameters": out}
	if end < len(names) {
		resp["NextToken"] = strconv.Itoa(end)
	}
	_ = json.NewEncoder(w).Encode(resp)
}

// paramJSON is a parameter as GetParameter and GetParametersByPath return it.
func paramJSON(name string, p ssmParam, decrypt bool) map[string]any {
	value := p.Value
	if p.Type == "SecureString" && !decrypt {
		value = "AQICAHencrypted-blob-not-decrypted=="
	}
	return map[string]any{
		"Name": name, "Type": p.Type, "Value": value, "Version": p.Version,
		"LastModifiedDate": float64(p.Modified.UnixMilli()) / 1000,
		"ARN":              "arn:aws:ssm:" + Region + ":" + Account + ":parameter" + name,
		"DataType":         "text",
	}
}

// LambdaFunc is a fake function: it gets the invocation payload and returns
// the response payload, or an error that the fake reports as an unhandled
// function error.
type LambdaFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Lambda is a fake Lambda Invoke endpoint.
type Lambda struct {
	faults
	URL   string
	mu    sync.Mutex
	funcs map[string]LambdaFunc
}

// NewLambda starts a fake Lambda.
func NewLambda(t testing.TB) *Lambda {
	t.Helper()
	l := &Lambda{funcs: map[string]LambdaFunc{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2015-03-31/functions/{name}/invocations", l.invoke)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	l.URL = srv.URL
	return l
}

// FunctionARN is the ARN the fake gives a function name.
func FunctionARN(name string) string {
	return "arn:aws:lambda:" + Region + ":" + Account + ":function:" + name
}

// Handle registers a function by name; it answers to the name and its ARN.
func (l *Lambda) Handle(name string, fn LambdaFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.funcs[name] = fn
}

func (l *Lambda) invoke(w http.ResponseWriter, r *http.Request) {
	if l.fault(w, "Invoke", "TooManyRequestsException") {
		return
	}
	name := r.PathValue("name")
	if strings.HasPrefix(name, "arn:") {
		parts := strings.Split(name, ":")
		if len(parts) >= 7 {
			name = parts[6]
		}
	}
	l.mu.Lock()
	fn, ok := l.funcs[name]
	l.mu.Unlock()
	if !ok {
		w.Header().Set("X-Amzn-ErrorType", "ResourceNotFoundException")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"Type":"User","message":"Function not found: %s"}`, FunctionARN(name))
		return
	}
	payload, err := io.ReadAll(r.Body)
	if err != nil {
		jsonError(w, http.StatusBadRequest, "InvalidRequestContentException", err.Error())
		return
	}
	out, err := fn(r.Context(), payload)
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		_ = json.NewEncoder(w).Encode(map[string]any{"errorMessage": err.Error(), "errorType": "errorString"})
		return
	}
	_, _ = w.Write(out)
}

// Execution is what a fake state machine returns: Status is "SUCCEEDED",
// "FAILED", "TIMED_OUT" or "ABORTED"; Output is the JSON output.
type Execution struct {
	Status, Output, Error, Cause string
}

// StateMachine is a fake Express state machine.
type StateMachine func(ctx context.Context, input string) Execution

// StepFunctions is a fake Step Functions endpoint for StartSyncExecution.
type StepFunctions struct {
	faults
	URL      string
	mu       sync.Mutex
	machines map[string]StateMachine
}

// NewStepFunctions starts a fake Step Functions.
func NewStepFunctions(t testing.TB) *StepFunctions {
	t.Helper()
	s := &StepFunctions{machines: map[string]StateMachine{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// StateMachineARN is the ARN the fake gives a state machine name.
func StateMachineARN(name string) string {
	return "arn:aws:states:" + Region + ":" + Account + ":stateMachine:" + name
}

// Handle registers a state machine under its ARN.
func (s *StepFunctions) Handle(arn string, m StateMachine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.machines[arn] = m
}

func (s *StepFunctions) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Amz-Target") != "AWSStepFunctions.StartSyncExecution" {
		jsonError(w, http.StatusBadRequest, "UnknownOperationException", "only StartSyncExecution is faked")
		return
	}
	if s.fault(w, "StartSyncExecution", "ThrottlingException") {
		return
	}
	var in struct {
		StateMachineArn string `json:"stateMachineArn"`
		Input           string `json:"input"`
		Name            string `json:"name"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		jsonError(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	s.mu.Lock()
	m, ok := s.machines[in.StateMachineArn]
	s.mu.Unlock()
	if !ok {
		jsonError(w, http.StatusBadRequest, "StateMachineDoesNotExist", "State Machine Does Not Exist: '"+in.StateMachineArn+"'")
		return
	}
	start := time.Now()
	ex := m(r.Context(), in.Input)
	resp := map[string]any{
		"executionArn":    strings.Replace(in.StateMachineArn, ":stateMachine:", ":express:", 1) + ":run:1",
		"stateMachineArn": in.StateMachineArn,
		"status":          ex.Status,
		"startDate":       float64(start.UnixMilli()) / 1000,
		"stopDate":        float64(time.Now().UnixMilli()) / 1000,
	}
	if ex.Output != "" {
		resp["output"] = ex.Output
	}
	if ex.Error != "" {
		resp["error"], resp["cause"] = ex.Error, ex.Cause
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	_ = json.NewEncoder(w).Encode(resp)
}
