// Command reviews-lambda is the demo's reviews fragment as an AWS Lambda
// function (provided.al2023): the same kit.Fragment that the demo serves
// over HTTP, registered in SSM by its ARN.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ssr-mfe/composer/fragments"
)

func main() {
	lambda.Start(fragments.ReviewsFragment().Lambda())
}
