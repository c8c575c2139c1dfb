// Package awsclient builds every AWS client of the process (S3, Parameter
// Store, Lambda, Step Functions) from one config of the standard chain.
package awsclient

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go/logging"

	"github.com/ssr-mfe/composer/composer/fetch"
)

// Clients are every AWS client of the process, built from one config.
type Clients struct {
	S3     *s3.Client
	SSM    *ssm.Client
	Lambda *lambda.Client
	SFN    *sfn.Client
}

// Load builds one AWS config from the standard chain (environment,
// shared profile, container and instance roles) and the clients from it.
// The standard variables are read through getenv, so that tests and the
// process see the same thing: AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID,
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE>.
//
// The SDK's own log lines (such as "Response has no supported checksum",
// once per object read from a store that sends none) go to log, at their
// level, with component=aws-sdk, instead of as plain text to stderr.
//
// Retries use the SDK's standard retryer: exponential backoff with jitter
// on throttling and 5xx, and a client-side retry quota, so an outage does
// not turn into a retry storm.
func Load(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Clients, error) {
	opts := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithLogger(sdkLogger(log)),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.MaxBackoff = 5 * time.Second
			})
		}),
	}
	if r := getenv("AWS_REGION"); r != "" {
		opts = append(opts, awsconfig.WithRegion(r))
	} else if r := getenv("AWS_DEFAULT_REGION"); r != "" {
		opts = append(opts, awsconfig.WithRegion(r))
	}
	if p := getenv("AWS_PROFILE"); p != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(p))
	}
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(id, secret, getenv("AWS_SESSION_TOKEN"))))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	endpoint := func(service string) *string {
		if v := getenv("AWS_ENDPOINT_URL_" + service); v != "" {
			return aws.String(v)
		}
		if v := getenv("AWS_ENDPOINT_URL"); v != "" {
			return aws.String(v)
		}
		return nil
	}
	c := &Clients{}
	c.S3 = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if ep := endpoint("S3"); ep != nil {
			o.BaseEndpoint = ep
			o.UsePathStyle = true // LocalStack and fakes have no bucket subdomains
		}
	})
	c.SSM = ssm.NewFromConfig(cfg, func(o *ssm.Options) {
		if ep := endpoint("SSM"); ep != nil {
			o.BaseEndpoint = ep
		}
	})
	c.Lambda = lambda.NewFromConfig(cfg, func(o *lambda.Options) {
		if ep := endpoint("LAMBDA"); ep != nil {
			o.BaseEndpoint = ep
		}
	})
	c.SFN = sfn.NewFromConfig(cfg, func(o *sfn.Options) {
		if ep := endpoint("SFN"); ep != nil {
			o.BaseEndpoint = ep
			// StartSyncExecution goes to "sync-<host>" on AWS; an overridden
			// endpoint (LocalStack, a fake) has no such host.
			o.APIOptions = append(o.APIOptions, fetch.DisableHostPrefix)
		}
	})
	return c, nil
}

// sdkLogger adapts log to the SDK's logger: its Warn lines are warnings,
// the rest (Debug) debug lines.
func sdkLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		level := slog.LevelDebug
		if c == logging.Warn {
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, fmt.Sprintf(format, v...), slog.String("component", "aws-sdk"))
	})
}
