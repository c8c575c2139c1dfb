package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecspatterns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awselasticloadbalancingv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3assets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsssm"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Settings of the stack that an operator chooses.
type Settings struct {
	// RepoRoot is the composer repository (the Docker build context and the
	// Lambda's Go source).
	RepoRoot string
	// RegistryPrefix is the SSM prefix fragments register under.
	RegistryPrefix string
	// TemplatesPrefix is the key prefix of the templates in the bucket.
	TemplatesPrefix string
	// CloudFrontPrefixList is the region's managed prefix list
	// "com.amazonaws.global.cloudfront.origin-facing" (its id differs by
	// region: look it up once with `aws ec2 describe-managed-prefix-lists`).
	CloudFrontPrefixList string
	// ShutdownGrace is the composer's COMPOSER_SHUTDOWN_TIMEOUT; the ECS
	// stop timeout and the ALB deregistration delay are set just above it.
	ShutdownGrace awscdk.Duration
	// CDNKeyHeaders are the request headers CloudFront keys the pages'
	// cache on besides path and query (none by default). The composer is
	// given the same list as COMPOSER_CDN_KEY_HEADERS: a page that used a
	// fragment answer varying on one of them names it in its Vary, one
	// varying on any other header is private (CloudFront ignores Vary).
	// See docs/caching.md.
	CDNKeyHeaders []string
}

// fragmentTag marks Lambda functions and state machines the composer may
// call besides the ones this stack registers.
const fragmentTag = "ssr-mfe-fragment"

// Stack is the composer on AWS: templates bucket, registry in SSM, the
// composer on Fargate behind an ALB and CloudFront, and the example reviews
// fragment as a Lambda function.
type Stack struct {
	awscdk.Stack
	Bucket       awss3.Bucket
	Service      awsecspatterns.ApplicationLoadBalancedFargateService
	Distribution awscloudfront.Distribution
	Reviews      awslambda.Function
	TaskRole     awsiam.Role
}

// NewStack defines the stack.
func NewStack(scope constructs.Construct, id string, props *awscdk.StackProps, s Settings) *Stack {
	st := &Stack{Stack: awscdk.NewStack(scope, jsii.String(id), props)}
	stack := st.Stack

	// Logs of S3, the ALB and CloudFront.
	logs := awss3.NewBucket(stack, jsii.String("AccessLogs"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_OBJECT_WRITER, // CloudFront standard logs need ACLs
		LifecycleRules:    &[]*awss3.LifecycleRule{{Expiration: awscdk.Duration_Days(jsii.Number(90))}},
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})

	// Templates (prefix TemplatesPrefix) and static assets (static/).
	st.Bucket = awss3.NewBucket(stack, jsii.String("Pages"), &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		Versioned:              jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("s3/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
	})

	// The example reviews fragment: the demo's handler through the kit's
	// Lambda adapter, built for arm64.
	reviewsLogs := awslogs.NewLogGroup(stack, jsii.String("ReviewsLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	reviewsRole := awsiam.NewRole(stack, jsii.String("ReviewsRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
	})
	reviewsLogs.GrantWrite(reviewsRole)
	st.Reviews = awslambda.NewFunction(stack, jsii.String("Reviews"), &awslambda.FunctionProps{
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         goLambdaCode(s.RepoRoot, "./fragments/cmd/reviews-lambda"),
		MemorySize:   jsii.Number(256),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(5)),
		Role:         reviewsRole,
		LogGroup:     reviewsLogs,
	})
	awscdk.Tags_Of(st.Reviews).Add(jsii.String(fragmentTag), jsii.String("true"), nil)

	// The registry: one parameter per fragment.
	awsssm.NewStringParameter(stack, jsii.String("ReviewsEntry"), &awsssm.StringParameterProps{
		ParameterName: jsii.String(s.RegistryPrefix + "reviews"),
		Description:   jsii.String("Registry entry of the reviews fragment (a Lambda function)"),
		StringValue: jsii.String(`{"endpoint": "` + *st.Reviews.FunctionArn() + `", "timeout": "1s", ` +
			`"assets": {"css": ["/static/reviews/reviews.css"], "js": ["/static/reviews/reviews.js"]}}`),
	})

	// Network and cluster.
	vpc := awsec2.NewVpc(stack, jsii.String("Vpc"), &awsec2.VpcProps{
		MaxAzs:      jsii.Number(2),
		NatGateways: jsii.Number(2),
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"All": {TrafficType: awsec2.FlowLogTrafficType_REJECT},
		},
	})
	cluster := awsecs.NewCluster(stack, jsii.String("Cluster"), &awsecs.ClusterProps{
		Vpc:                            vpc,
		ContainerInsightsV2:            awsecs.ContainerInsights_ENABLED,
		EnableFargateCapacityProviders: jsii.Bool(true),
	})

	// The composer's role: read its templates, read the registry, call the
	// registered fragments. Nothing else.
	st.TaskRole = awsiam.NewRole(stack, jsii.String("ComposerTaskRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewServicePrincipal(jsii.String("ecs-tasks.amazonaws.com"), nil),
	})
	region, account := stack.Region(), stack.Account()
	registryPath := s.RegistryPrefix[:len(s.RegistryPrefix)-1]
	st.TaskRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("ssm:GetParametersByPath"),
		Resources: jsii.Strings(
			"arn:aws:ssm:"+*region+":"+*account+":parameter"+registryPath,
			"arn:aws:ssm:"+*region+":"+*account+":parameter"+registryPath+"/*"),
	}))
	st.TaskRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: jsii.Strings(*st.Bucket.ArnForObjects(jsii.String(s.TemplatesPrefix + "*"))),
	}))
	st.TaskRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("s3:ListBucket"),
		Resources:  jsii.Strings(*st.Bucket.BucketArn()),
		Conditions: &map[string]any{"StringLike": map[string]any{"s3:prefix": []string{s.TemplatesPrefix + "*"}}},
	}))
	st.Reviews.GrantInvoke(st.TaskRole)
	st.TaskRole.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("lambda:InvokeFunction", "states:StartSyncExecution"),
		Resources: jsii.Strings(
			"arn:aws:lambda:"+*region+":"+*account+":function:*",
			"arn:aws:states:"+*region+":"+*account+":stateMachine:*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/" + fragmentTag: "true"}},
	}))

	composerLogs := awslogs.NewLogGroup(stack, jsii.String("ComposerLogs"), &awslogs.LogGroupProps{
		Retention: awslogs.RetentionDays_ONE_MONTH, RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	st.Service = awsecspatterns.NewApplicationLoadBalancedFargateService(stack, jsii.String("Composer"), &awsecspatterns.ApplicationLoadBalancedFargateServiceProps{
		Cluster:            cluster,
		DesiredCount:       jsii.Number(2),
		Cpu:                jsii.Number(512),
		MemoryLimitMiB:     jsii.Number(1024),
		PublicLoadBalancer: jsii.Bool(true),
		OpenListener:       jsii.Bool(false),
		MinHealthyPercent:  jsii.Number(100),
		CircuitBreaker:     &awsecs.DeploymentCircuitBreaker{Enable: jsii.Bool(true), Rollback: jsii.Bool(true)},
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_X86_64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
		TaskImageOptions: &awsecspatterns.ApplicationLoadBalancedTaskImageOptions{
			Image: awsecs.ContainerImage_FromAsset(jsii.String(s.RepoRoot), &awsecs.AssetImageProps{
				Target:  jsii.String("composer"),
				Exclude: jsii.Strings(".git", "infra", "artifacts", "bench", "**/node_modules"),
			}),
			ContainerPort: jsii.Number(8080),
			TaskRole:      st.TaskRole,
			LogDriver:     awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{StreamPrefix: jsii.String("composer"), LogGroup: composerLogs}),
			// COMPOSER_ADMIN_ADDR (/metrics and pprof) is not mapped, not in
			// the target group, and opened by no security group: a sidecar in
			// the task (the CloudWatch agent, a Prometheus agent) scrapes
			// localhost:9090.
			Environment: &map[string]*string{
				"COMPOSER_ADDR":             jsii.String(":8080"),
				"COMPOSER_ADMIN_ADDR":       jsii.String(":9090"),
				"COMPOSER_TEMPLATES":        jsii.String("s3://" + *st.Bucket.BucketName() + "/" + s.TemplatesPrefix),
				"COMPOSER_REGISTRY":         jsii.String("ssm:" + s.RegistryPrefix),
				"COMPOSER_SHUTDOWN_TIMEOUT": jsii.String(strconv.Itoa(int(*s.ShutdownGrace.ToSeconds(nil))) + "s"),
				"COMPOSER_SNAPSHOT_DIR":     jsii.String("/tmp/snapshot"),
				"COMPOSER_LOG_FORMAT":       jsii.String("json"),
				"COMPOSER_CDN_KEY_HEADERS":  jsii.String(strings.Join(s.CDNKeyHeaders, ",")),
				"GOMEMLIMIT":                jsii.String("800MiB"),
			},
		},
	})
	// A stopped task finishes its pages in flight: the container gets the
	// grace period plus a margin before SIGKILL, and the ALB keeps
	// draining it as long.
	stopAfter := *s.ShutdownGrace.ToSeconds(nil) + 5
	cfnTask := st.Service.TaskDefinition().Node().DefaultChild().(awsecs.CfnTaskDefinition)
	cfnTask.AddPropertyOverride(jsii.String("ContainerDefinitions.0.StopTimeout"), stopAfter)
	// Liveness: the process answers. A task still waiting for its first
	// load (S3 or SSM down at a cold start) is alive and is not replaced;
	// it only gets no traffic (readiness, below).
	cfnTask.AddPropertyOverride(jsii.String("ContainerDefinitions.0.HealthCheck"), map[string]any{
		"Command":  []string{"CMD", "/composer", "healthcheck", "http://127.0.0.1:8080/healthz"},
		"Interval": 10, "Timeout": 5, "Retries": 3, "StartPeriod": 10,
	})
	// Readiness: the ALB sends traffic only to a task that has loaded its
	// templates and registry (/readyz 200; 503 until the first good load).
	tg := st.Service.TargetGroup()
	tg.ConfigureHealthCheck(&awselasticloadbalancingv2.HealthCheck{
		Path: jsii.String("/readyz"), HealthyHttpCodes: jsii.String("200"),
		Interval: awscdk.Duration_Seconds(jsii.Number(10)), HealthyThresholdCount: jsii.Number(2),
	})
	tg.SetAttribute(jsii.String("deregistration_delay.timeout_seconds"), jsii.String(strconv.Itoa(int(stopAfter))))
	alb := st.Service.LoadBalancer()
	alb.LogAccessLogs(logs, jsii.String("alb"))
	alb.SetAttribute(jsii.String("routing.http.drop_invalid_header_fields.enabled"), jsii.String("true"))
	// Only CloudFront reaches the ALB.
	alb.Connections().AllowFrom(awsec2.Peer_PrefixList(jsii.String(s.CloudFrontPrefixList)), awsec2.Port_Tcp(jsii.Number(80)), jsii.String("CloudFront origin-facing"))

	scaling := st.Service.Service().AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: jsii.Number(2), MaxCapacity: jsii.Number(20),
	})
	scaling.ScaleOnCpuUtilization(jsii.String("Cpu"), &awsecs.CpuUtilizationScalingProps{TargetUtilizationPercent: jsii.Number(60)})
	scaling.ScaleOnRequestCount(jsii.String("Requests"), &awsecs.RequestCountScalingProps{RequestsPerTarget: jsii.Number(1500), TargetGroup: tg})

	// Pages are cached as their Cache-Control says, keyed on path, query
	// and CDNKeyHeaders only: the composer is told the same headers.
	pageKeyHeaders := awscloudfront.CacheHeaderBehavior_None()
	if len(s.CDNKeyHeaders) > 0 {
		pageKeyHeaders = awscloudfront.CacheHeaderBehavior_AllowList(*jsii.Strings(s.CDNKeyHeaders...)...)
	}
	pagesCache := awscloudfront.NewCachePolicy(stack, jsii.String("PagesCachePolicy"), &awscloudfront.CachePolicyProps{
		Comment:                    jsii.String("Pages: origin Cache-Control; key: path, query and the composer's COMPOSER_CDN_KEY_HEADERS"),
		QueryStringBehavior:        awscloudfront.CacheQueryStringBehavior_All(),
		HeaderBehavior:             pageKeyHeaders,
		CookieBehavior:             awscloudfront.CacheCookieBehavior_None(),
		MinTtl:                     awscdk.Duration_Seconds(jsii.Number(0)),
		DefaultTtl:                 awscdk.Duration_Seconds(jsii.Number(0)),
		MaxTtl:                     awscdk.Duration_Days(jsii.Number(365)),
		EnableAcceptEncodingGzip:   jsii.Bool(true),
		EnableAcceptEncodingBrotli: jsii.Bool(true),
	})

	// CloudFront: pages from the ALB as their Cache-Control says, static
	// files from S3 through Origin Access Control.
	st.Distribution = awscloudfront.NewDistribution(stack, jsii.String("Cdn"), &awscloudfront.DistributionProps{
		HttpVersion: awscloudfront.HttpVersion_HTTP2_AND_3,
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin: awscloudfrontorigins.NewLoadBalancerV2Origin(alb, &awscloudfrontorigins.LoadBalancerV2OriginProps{
				ProtocolPolicy: awscloudfront.OriginProtocolPolicy_HTTP_ONLY,
			}),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_ALL(),
			CachePolicy:           pagesCache,
			OriginRequestPolicy:   awscloudfront.OriginRequestPolicy_ALL_VIEWER_EXCEPT_HOST_HEADER(),
			ResponseHeadersPolicy: awscloudfront.ResponseHeadersPolicy_SECURITY_HEADERS(),
			Compress:              jsii.Bool(true),
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			"/static/*": {
				Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(st.Bucket, nil),
				ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
				CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
				ResponseHeadersPolicy: awscloudfront.ResponseHeadersPolicy_SECURITY_HEADERS(),
			},
		},
		// CloudFront keeps a 5xx for 10 s by default, whatever its
		// Cache-Control says: a 503 before a task's first load, or a 502 of
		// a required fragment, would outlive its cause. The composer's own
		// error page passes through (no ResponsePagePath).
		ErrorResponses: &[]*awscloudfront.ErrorResponse{
			// The composer's refusal of an island request (and its 404
			// page) says no-store; kept anyway, it would refuse a good
			// island for everyone for 10 s.
			{HttpStatus: jsii.Number(404), Ttl: awscdk.Duration_Seconds(jsii.Number(0))},
			{HttpStatus: jsii.Number(500), Ttl: awscdk.Duration_Seconds(jsii.Number(0))},
			{HttpStatus: jsii.Number(502), Ttl: awscdk.Duration_Seconds(jsii.Number(0))},
			{HttpStatus: jsii.Number(503), Ttl: awscdk.Duration_Seconds(jsii.Number(0))},
			{HttpStatus: jsii.Number(504), Ttl: awscdk.Duration_Seconds(jsii.Number(0))},
		},
		EnableLogging: jsii.Bool(true),
		LogBucket:     logs,
		LogFilePrefix: jsii.String("cloudfront/"),
	})

	awscdk.NewCfnOutput(stack, jsii.String("PagesBucket"), &awscdk.CfnOutputProps{Value: st.Bucket.BucketName()})
	awscdk.NewCfnOutput(stack, jsii.String("Url"), &awscdk.CfnOutputProps{Value: jsii.String("https://" + *st.Distribution.DistributionDomainName() + "/productdetails")})
	awscdk.NewCfnOutput(stack, jsii.String("ReviewsFunction"), &awscdk.CfnOutputProps{Value: st.Reviews.FunctionArn()})
	addRegistryMarker(st, s)
	suppress(st)
	return st
}

// goBundler builds the Lambda with the local Go toolchain, so that
// synthesis needs no Docker; the Docker image above is the fallback.
type goBundler struct{ root, pkg string }

func (b *goBundler) TryBundle(outputDir *string, _ *awscdk.BundlingOptions) *bool {
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(*outputDir, "bootstrap"), b.pkg)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return jsii.Bool(cmd.Run() == nil)
}

// goLambdaCode is a Go Lambda function's code: package pkg of the
// repository built for arm64 as "bootstrap", with the local Go toolchain
// (goBundler) or, failing that, in a Go container.
func goLambdaCode(repoRoot, pkg string) awslambda.Code {
	return awslambda.Code_FromAsset(jsii.String(repoRoot), &awss3assets.AssetOptions{
		Bundling: &awscdk.BundlingOptions{
			Image:   awscdk.DockerImage_FromRegistry(jsii.String("golang:1.26-bookworm")),
			Command: jsii.Strings("bash", "-c", "CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags='-s -w' -o /asset-output/bootstrap "+pkg),
			Local:   &goBundler{root: repoRoot, pkg: pkg},
		},
		Exclude: jsii.Strings(".git", "infra", "artifacts", "bench", "**/node_modules"),
	})
}
