// Package markerlambda is the registry marker function. An EventBridge
// rule on Parameter Store changes under the registry prefix invokes it, and
// it bumps the registry's change marker, so that composers read the
// registry at their next refresh however the parameter was written
// (CloudFormation, CDK, Terraform, the console, the CLI).
//
//	Parameter Store change --EventBridge "Parameter Store Change", detail.name under the prefix--> Handle --PutParameter--> <prefix>_version
//
// It ignores the marker's own changes (else every bump would invoke it
// again), label changes (composers read the latest version whatever its
// labels), and anything outside the prefix.
package markerlambda

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssr-mfe/composer/composer/ssmregistry"
)

// Event is an EventBridge event, with the detail of a "Parameter Store
// Change" (the fields used).
type Event struct {
	Source     string    `json:"source"`
	DetailType string    `json:"detail-type"`
	Time       time.Time `json:"time"`
	Detail     struct {
		Operation string `json:"operation"` // Create, Update, Delete, LabelParameterVersion
		Name      string `json:"name"`
		Type      string `json:"type"`
	} `json:"detail"`
}

// Handler bumps the marker of the registry under Prefix.
type Handler struct {
	Client *ssm.Client
	Prefix string // as ssmregistry.NormalizePrefix gives it
	Log    *slog.Logger
}

// Result says what the handler did: "bumped" or "ignored", and why.
type Result struct {
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	Marker string `json:"marker"`
}

// Handle handles one event. An error (the bump failed) makes Lambda retry
// the asynchronous invocation.
func (h *Handler) Handle(ctx context.Context, ev Event) (Result, error) {
	marker := ssmregistry.MarkerName(h.Prefix)
	ignore := func(reason string) (Result, error) {
		h.Log.Info("ignored", slog.String("reason", reason), slog.String("operation", ev.Detail.Operation), slog.String("parameter", ev.Detail.Name))
		return Result{Action: "ignored", Reason: reason, Marker: marker}, nil
	}
	switch {
	case ev.Source != "aws.ssm" || ev.DetailType != "Parameter Store Change":
		return ignore("not a Parameter Store change")
	case ev.Detail.Name == marker:
		return ignore("the marker itself")
	case !strings.HasPrefix(ev.Detail.Name, h.Prefix):
		return ignore("not under " + h.Prefix)
	case ev.Detail.Operation == "LabelParameterVersion":
		return ignore("a label does not change what composers read")
	}
	what := ev.Detail.Operation + " " + ev.Detail.Name
	if err := ssmregistry.Bump(ctx, h.Client, h.Prefix, what); err != nil {
		h.Log.Error("bump failed", slog.String("change", what), slog.String("error", err.Error()))
		return Result{}, err
	}
	h.Log.Info("bumped", slog.String("change", what), slog.String("marker", marker))
	return Result{Action: "bumped", Marker: marker}, nil
}

// FromEnv builds the handler from the function's environment:
// REGISTRY_PREFIX and the standard AWS variables (the Lambda runtime sets
// the region and credentials).
func FromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	prefix := getenv("REGISTRY_PREFIX")
	if !strings.HasPrefix(prefix, "/") {
		return nil, errors.New("REGISTRY_PREFIX: want the registry's SSM prefix, such as /ssr-mfe/")
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	return &Handler{Client: ssm.NewFromConfig(cfg), Prefix: ssmregistry.NormalizePrefix(prefix), Log: log}, nil
}
