package main

import (
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// suppress records, each with its reason, the AwsSolutions findings this
// stack accepts. Everything else cdk-nag checks is satisfied.
func suppress(st *Stack) {
	var sup []*cdknag.NagPackSuppression
	add := func(id, reason string, appliesTo ...any) {
		s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
		if len(appliesTo) > 0 {
			s.AppliesTo = &appliesTo
		}
		sup = append(sup, s)
	}
	regex := func(r string) any { return &cdknag.RegexAppliesTo{Regex: jsii.String(r)} }

	add("AwsSolutions-CFR4", "The distribution uses CloudFront's default certificate until a custom domain is configured; with a domain, set an ACM certificate and minimumProtocolVersion TLSv1.2_2021.")
	add("AwsSolutions-CFR5", "The origin is the ALB over HTTP on port 80, which only CloudFront's origin-facing prefix list can reach; TLS to the origin needs a domain and certificate for the ALB.")
	add("AwsSolutions-ECS2", "The environment holds only non-secret configuration (bucket and registry locations, timeouts, log format); the composer has no secrets.")
	add("AwsSolutions-IAM5", "GetParametersByPath reads the registry prefix, which holds one parameter per fragment: its children are the resource.",
		regex(`/^Resource::arn:aws:ssm:.*:parameter\/ssr-mfe\/\*$/`))
	add("AwsSolutions-IAM5", "GetObject only under the templates prefix of the pages bucket.",
		regex(`/^Resource::<Pages.*\.Arn>\/site\/\*$/`))
	add("AwsSolutions-IAM5", "Invoke the registered reviews function, any of its versions or aliases (grantInvoke).",
		regex(`/^Resource::<Reviews.*\.Arn>:\*$/`))
	add("AwsSolutions-IAM5", "Fragments that teams register later: only functions and state machines tagged ssr-mfe-fragment=true (aws:ResourceTag condition).",
		regex(`/^Resource::arn:aws:(lambda|states):.*:(function|stateMachine):\*$/`))
	cdknag.NagSuppressions_AddStackSuppressions(st.Stack, &sup, jsii.Bool(true))
	cdknag.NagSuppressions_AddResourceSuppressions(st.Service.TaskDefinition().ExecutionRole(), &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("The task execution role's ecr:GetAuthorizationToken has no resource-level permissions; CDK generates it."),
		AppliesTo: &[]any{"Resource::*"},
	}}, jsii.Bool(true))
}
