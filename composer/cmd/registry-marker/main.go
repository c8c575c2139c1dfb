// Command registry-marker is the registry marker function as an AWS Lambda
// function (provided.al2023): see package markerlambda. The CDK stack in
// infra/ builds and deploys it with its EventBridge rule.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ssr-mfe/composer/composer/ssmregistry/markerlambda"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := markerlambda.FromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("not started", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
