package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// markerID is the registry's change marker below the prefix: the
// composer's ssmregistry.MarkerID (this module does not import the
// composer's; TestRegistryMarker pins the name).
const markerID = "_version"

// markerPackage is the marker function's main package in the repository.
const markerPackage = "./composer/cmd/registry-marker"

// addRegistryMarker makes a registry change cost one call per refresh
// whoever writes it: every Parameter Store change under the registry
// prefix (CloudFormation, CDK, Terraform, the console, `composer
// register`) goes through an EventBridge rule to a small Go function that
// bumps <prefix>_version, and the composer's task role may read that one
// parameter. The function may write only the marker.
func addRegistryMarker(st *Stack, s Settings) awslambda.Function {
	stack := st.Stack
	markerName := s.RegistryPrefix + markerID
	markerArn := "arn:aws:ssm:" + *stack.Region() + ":" + *stack.Account() + ":parameter" + markerName

	logs := awslogs.NewLogGroup(stack, jsii.String("RegistryMarkerLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	role := awsiam.NewRole(stack, jsii.String("RegistryMarkerRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	logs.GrantWrite(role)
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("ssm:PutParameter"),
		Resources: jsii.Strings(markerArn),
	}))
	fn := awslambda.NewFunction(stack, jsii.String("RegistryMarker"), &awslambda.FunctionProps{
		Description:  jsii.String("Bumps " + markerName + " on every Parameter Store change under " + s.RegistryPrefix + ", so that composers re-read the registry"),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         goLambdaCode(s.RepoRoot, markerPackage),
		MemorySize:   jsii.Number(128),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(10)),
		Role:         role,
		LogGroup:     logs,
		Environment:  &map[string]*string{"REGISTRY_PREFIX": jsii.String(s.RegistryPrefix)},
	})
	// Label changes do not change what the composer reads; the marker's
	// own changes reach the function too (a pattern cannot say "under the
	// prefix but not this name") and it ignores them.
	rule := awsevents.NewRule(stack, jsii.String("RegistryChanges"), &awsevents.RuleProps{
		Description: jsii.String("Parameter Store changes under " + s.RegistryPrefix + ": bump the registry's change marker"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.ssm"),
			DetailType: jsii.Strings("Parameter Store Change"),
			Detail: &map[string]any{
				"name":      []any{map[string]any{"prefix": s.RegistryPrefix}},
				"operation": []any{"Create", "Update", "Delete"},
			},
		},
	})
	rule.AddTarget(awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(4),
		MaxEventAge:   awscdk.Duration_Hours(jsii.Number(1)),
	}))
	// The stack's own registry entry is written once the rule and the
	// function are in place, so that a first deploy creates the marker.
	if entry := stack.Node().TryFindChild(jsii.String("ReviewsEntry")); entry != nil {
		entry.Node().AddDependency(rule, fn)
	}

	st.TaskRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("ssm:GetParameter"),
		Resources: jsii.Strings(markerArn),
	}))
	awscdk.NewCfnOutput(stack, jsii.String("RegistryMarkerParameter"), &awscdk.CfnOutputProps{Value: jsii.String(markerName)})
	return fn
}
