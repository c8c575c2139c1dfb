package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func synth(t *testing.T) (*Stack, assertions.Template) {
	t.Helper()
	return synthWith(t, func(*Settings) {})
}

// synthWith synthesises the stack with its settings changed by change.
func synthWith(t *testing.T, change func(*Settings)) (*Stack, assertions.Template) {
	t.Helper()
	app := awscdk.NewApp(&awscdk.AppProps{Context: &map[string]any{
		"aws:cdk:bundling-stacks": []string{}, // no Lambda build in tests
	}})
	s := settings(app)
	change(&s)
	st := NewStack(app, "Composer", &awscdk.StackProps{Env: &awscdk.Environment{Account: jsii.String("123456789012"), Region: jsii.String("eu-west-1")}}, s)
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return st, assertions.Template_FromStack(st.Stack, nil)
}

func TestNagFindings(t *testing.T) {
	st, _ := synth(t)
	errs := assertions.Annotations_FromStack(st.Stack).FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
	var lines []string
	for _, m := range *errs {
		lines = append(lines, fmt.Sprintf("%s: %v", *m.Id, m.Entry.Data))
	}
	if len(lines) > 0 {
		t.Errorf("cdk-nag AwsSolutions errors:\n%s", strings.Join(lines, "\n"))
	}
}

func TestStackProperties(t *testing.T) {
	_, tpl := synth(t)
	m := func(v map[string]any) *map[string]any { return &v }

	t.Run("pages bucket: encrypted, versioned, private, TLS only", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), m(map[string]any{
			"VersioningConfiguration": map[string]any{"Status": "Enabled"},
			"BucketEncryption":        assertions.Match_AnyValue(),
			"PublicAccessBlockConfiguration": map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
		}))
		tpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), m(map[string]any{
			"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(m(map[string]any{
				"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
			}))})},
		}))
	})
	t.Run("registry entry for the reviews Lambda", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::SSM::Parameter"), m(map[string]any{"Name": "/ssr-mfe/reviews", "Type": "String"}))
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), m(map[string]any{
			"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
		}))
	})
	t.Run("Fargate service: two tasks, circuit breaker with rollback, stop timeout after the grace", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::ECS::Service"), m(map[string]any{
			"DesiredCount": 2, "LaunchType": "FARGATE",
			"DeploymentConfiguration": assertions.Match_ObjectLike(m(map[string]any{
				"DeploymentCircuitBreaker": map[string]any{"Enable": true, "Rollback": true},
				"MinimumHealthyPercent":    100,
			})),
		}))
		tpl.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), m(map[string]any{
			"ContainerDefinitions": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(m(map[string]any{
				"StopTimeout": 30,
				"Environment": assertions.Match_ArrayWith(&[]any{
					map[string]any{"Name": "COMPOSER_REGISTRY", "Value": "ssm:/ssr-mfe/"},
					map[string]any{"Name": "COMPOSER_SHUTDOWN_TIMEOUT", "Value": "25s"},
				}),
			}))}),
		}))
		tpl.ResourceCountIs(jsii.String("AWS::EC2::Subnet"), jsii.Number(4)) // public and private in two AZs
	})
	t.Run("autoscaling on CPU and on requests per target", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalableTarget"), m(map[string]any{"MinCapacity": 2, "MaxCapacity": 20}))
		for _, metric := range []string{"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"} {
			tpl.HasResourceProperties(jsii.String("AWS::ApplicationAutoScaling::ScalingPolicy"), m(map[string]any{
				"TargetTrackingScalingPolicyConfiguration": assertions.Match_ObjectLike(m(map[string]any{
					"PredefinedMetricSpecification": assertions.Match_ObjectLike(m(map[string]any{"PredefinedMetricType": metric})),
				})),
			}))
		}
	})
	t.Run("ALB: target health on readiness, draining as long as the grace, CloudFront only", func(t *testing.T) {
		// A task that loaded nothing answers /readyz 503 and gets no traffic.
		tpl.HasResourceProperties(jsii.String("AWS::ElasticLoadBalancingV2::TargetGroup"), m(map[string]any{
			"HealthCheckPath": "/readyz",
			"TargetGroupAttributes": assertions.Match_ArrayWith(&[]any{
				map[string]any{"Key": "deregistration_delay.timeout_seconds", "Value": "30"},
			}),
		}))
		tpl.HasResourceProperties(jsii.String("AWS::EC2::SecurityGroupIngress"), m(map[string]any{
			"SourcePrefixListId": "pl-4fa04526", "FromPort": 80, "ToPort": 80, "IpProtocol": "tcp",
		}))
		for _, typ := range []string{"AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroup"} {
			for id, r := range *tpl.FindResources(jsii.String(typ), nil) {
				props := (*r)["Properties"].(map[string]any)
				ingress := fmt.Sprint(props)
				if typ == "AWS::EC2::SecurityGroup" {
					ingress = fmt.Sprint(props["SecurityGroupIngress"])
				}
				if strings.Contains(ingress, "0.0.0.0/0") || strings.Contains(ingress, "::/0") {
					t.Errorf("%s %s lets the internet in: %s", typ, id, ingress)
				}
			}
		}
	})
	t.Run("admin listener: metrics and pprof on 9090, which nothing in the stack opens", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), m(map[string]any{
			"ContainerDefinitions": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(m(map[string]any{
				"Environment": assertions.Match_ArrayWith(&[]any{
					map[string]any{"Name": "COMPOSER_ADDR", "Value": ":8080"},
					map[string]any{"Name": "COMPOSER_ADMIN_ADDR", "Value": ":9090"},
				}),
				// Only the app port is mapped; the admin port is for the task's
				// own network namespace (a sidecar on localhost).
				"PortMappings": []any{assertions.Match_ObjectLike(m(map[string]any{"ContainerPort": 8080}))},
			}))}),
		}))
		for id, r := range *tpl.FindResources(jsii.String("AWS::ECS::Service"), nil) {
			lbs, _ := (*r)["Properties"].(map[string]any)["LoadBalancers"].([]any)
			for _, lb := range lbs {
				if port := lb.(map[string]any)["ContainerPort"]; fmt.Sprint(port) != "8080" {
					t.Errorf("service %s: the load balancer reaches container port %v, want only the app port 8080", id, port)
				}
			}
			if len(lbs) == 0 {
				t.Errorf("service %s has no load balancer", id)
			}
		}
		// No rule, ingress or egress, of any security group lets traffic
		// reach 9090.
		opens := func(rule map[string]any) bool {
			if fmt.Sprint(rule["IpProtocol"]) == "-1" {
				return true
			}
			from, okFrom := rule["FromPort"].(float64)
			to, okTo := rule["ToPort"].(float64)
			return okFrom && okTo && from <= 9090 && 9090 <= to
		}
		for _, typ := range []string{"AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"} {
			for id, r := range *tpl.FindResources(jsii.String(typ), nil) {
				if props := (*r)["Properties"].(map[string]any); opens(props) {
					t.Errorf("%s %s opens the admin port: %v", typ, id, props)
				}
			}
		}
		for id, r := range *tpl.FindResources(jsii.String("AWS::EC2::SecurityGroup"), nil) {
			props := (*r)["Properties"].(map[string]any)
			for _, key := range []string{"SecurityGroupIngress", "SecurityGroupEgress"} {
				rules, _ := props[key].([]any)
				for _, rule := range rules {
					rule := rule.(map[string]any)
					// Egress to anywhere is the tasks' way out (to AWS APIs and
					// fragments), not a way in.
					if key == "SecurityGroupEgress" && rule["CidrIp"] == "0.0.0.0/0" {
						continue
					}
					if opens(rule) {
						t.Errorf("security group %s: %s rule opens the admin port: %v", id, key, rule)
					}
				}
			}
		}
	})
	t.Run("container liveness on /healthz: a task waiting for its first load is alive, not replaced", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), m(map[string]any{
			"ContainerDefinitions": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(m(map[string]any{
				"HealthCheck": assertions.Match_ObjectLike(m(map[string]any{
					"Command": []any{"CMD", "/composer", "healthcheck", "http://127.0.0.1:8080/healthz"},
				})),
			}))}),
		}))
	})
	t.Run("CloudFront keeps no 500, 502, 503 or 504 answer", func(t *testing.T) {
		// By default CloudFront caches these for 10 s and ignores no-store
		// on them: a 503 before a task's first load would outlive it.
		var want []any
		for _, code := range []int{500, 502, 503, 504} {
			want = append(want, map[string]any{"ErrorCode": code, "ErrorCachingMinTTL": 0})
		}
		tpl.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), m(map[string]any{
			"DistributionConfig": assertions.Match_ObjectLike(m(map[string]any{
				"CustomErrorResponses": assertions.Match_ArrayWith(&want),
			})),
		}))
		for id, r := range *tpl.FindResources(jsii.String("AWS::CloudFront::Distribution"), nil) {
			cfg := (*r)["Properties"].(map[string]any)["DistributionConfig"].(map[string]any)
			responses, _ := cfg["CustomErrorResponses"].([]any)
			for _, er := range responses {
				if page, ok := er.(map[string]any)["ResponsePagePath"]; ok {
					t.Errorf("distribution %s replaces the composer's error page with %v", id, page)
				}
			}
		}
	})
	t.Run("CloudFront: HTTP/2 and 3, origin Cache-Control for pages, S3 with OAC for static", func(t *testing.T) {
		tpl.ResourceCountIs(jsii.String("AWS::CloudFront::OriginAccessControl"), jsii.Number(1))
		tpl.HasResourceProperties(jsii.String("AWS::CloudFront::Distribution"), m(map[string]any{
			"DistributionConfig": assertions.Match_ObjectLike(m(map[string]any{
				"HttpVersion": "http2and3",
				"DefaultCacheBehavior": assertions.Match_ObjectLike(m(map[string]any{
					"CachePolicyId":           map[string]any{"Ref": assertions.Match_StringLikeRegexp(jsii.String("^PagesCachePolicy"))},
					"ResponseHeadersPolicyId": "67f7725c-6f97-4210-82d7-5512b31e9d03", // SecurityHeadersPolicy
					"ViewerProtocolPolicy":    "redirect-to-https",
				})),
				"CacheBehaviors": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(m(map[string]any{"PathPattern": "/static/*"}))}),
			})),
		}))
	})
	t.Run("least privilege for the composer", func(t *testing.T) {
		policies := tpl.FindResources(jsii.String("AWS::IAM::Policy"), nil)
		var actions []string
		for id, p := range *policies {
			if !strings.Contains(id, "ComposerTaskRole") {
				continue
			}
			doc := (*p)["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)
			for _, st := range doc["Statement"].([]any) {
				switch a := st.(map[string]any)["Action"].(type) {
				case string:
					actions = append(actions, a)
				case []any:
					for _, x := range a {
						actions = append(actions, x.(string))
					}
				}
			}
		}
		want := map[string]bool{"ssm:GetParametersByPath": true, "ssm:GetParameter": true, "s3:GetObject": true, "s3:ListBucket": true, "lambda:InvokeFunction": true, "states:StartSyncExecution": true}
		for _, a := range actions {
			if !want[a] {
				t.Errorf("the composer's role may %s", a)
			}
		}
		if len(actions) < len(want) {
			t.Errorf("actions %v, want %v", actions, want)
		}
	})
	t.Run("logs kept a month", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), m(map[string]any{"RetentionInDays": 30}))
	})
}

// The registry's change marker: the rule, the function and its role, and
// the composer's read of the marker alone.
func TestRegistryMarker(t *testing.T) {
	_, tpl := synth(t)
	m := func(v map[string]any) *map[string]any { return &v }
	const markerArn = "arn:aws:ssm:eu-west-1:123456789012:parameter/ssr-mfe/_version"

	t.Run("rule: Parameter Store changes under the prefix, to the function, retried", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::Events::Rule"), m(map[string]any{
			"State": "ENABLED",
			"EventPattern": map[string]any{
				"source":      []any{"aws.ssm"},
				"detail-type": []any{"Parameter Store Change"},
				"detail": map[string]any{
					"name":      []any{map[string]any{"prefix": "/ssr-mfe/"}},
					"operation": []any{"Create", "Update", "Delete"},
				},
			},
			"Targets": []any{assertions.Match_ObjectLike(m(map[string]any{
				"Arn":         map[string]any{"Fn::GetAtt": []any{resourceID(t, tpl, "AWS::Lambda::Function", "RegistryMarker"), "Arn"}},
				"RetryPolicy": map[string]any{"MaximumRetryAttempts": 4, "MaximumEventAgeInSeconds": 3600},
			}))},
		}))
	})
	t.Run("function: Go on arm64, told the prefix", func(t *testing.T) {
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), m(map[string]any{
			"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
			"Environment": map[string]any{"Variables": map[string]any{"REGISTRY_PREFIX": "/ssr-mfe/"}},
		}))
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), m(map[string]any{
			"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com",
		}))
	})
	t.Run("the stack's own entry is written after the rule, so a first deploy creates the marker", func(t *testing.T) {
		rule := resourceID(t, tpl, "AWS::Events::Rule", "RegistryChanges")
		for id, r := range *tpl.FindResources(jsii.String("AWS::SSM::Parameter"), nil) {
			if strings.HasPrefix(id, "ReviewsEntry") && !strings.Contains(fmt.Sprint((*r)["DependsOn"]), rule) {
				t.Errorf("%s depends on %v, not on the rule %s", id, (*r)["DependsOn"], rule)
			}
		}
	})
	t.Run("the function's role writes the marker and its logs, nothing else", func(t *testing.T) {
		got := policyStatements(t, tpl, "RegistryMarkerRole")
		want := map[string]string{"ssm:PutParameter": markerArn, "logs:CreateLogStream": "", "logs:PutLogEvents": ""}
		for action, resource := range got {
			w, ok := want[action]
			if !ok {
				t.Errorf("the marker function may %s on %s", action, resource)
			} else if w != "" && resource != w {
				t.Errorf("the marker function may %s on %s, want %s", action, resource, w)
			}
		}
		if len(got) != len(want) {
			t.Errorf("the marker function's actions: %v, want %v", got, want)
		}
	})
	t.Run("the composer reads the marker alone", func(t *testing.T) {
		if got := policyStatements(t, tpl, "ComposerTaskRole")["ssm:GetParameter"]; got != markerArn {
			t.Errorf("the composer may ssm:GetParameter on %q, want only %s", got, markerArn)
		}
	})
}

// resourceID is the logical id of the one resource of type typ whose id
// starts with prefix.
func resourceID(t *testing.T, tpl assertions.Template, typ, prefix string) string {
	t.Helper()
	var ids []string
	for id := range *tpl.FindResources(jsii.String(typ), nil) {
		if strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("%s %s*: %v", typ, prefix, ids)
	}
	return ids[0]
}

// policyStatements maps each action of the policies attached to a role
// (by logical id prefix) to its resources, printed.
func policyStatements(t *testing.T, tpl assertions.Template, role string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for id, p := range *tpl.FindResources(jsii.String("AWS::IAM::Policy"), nil) {
		if !strings.HasPrefix(id, role) {
			continue
		}
		doc := (*p)["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)
		for _, st := range doc["Statement"].([]any) {
			st := st.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			var actions []string
			switch a := st["Action"].(type) {
			case string:
				actions = append(actions, a)
			case []any:
				for _, x := range a {
					actions = append(actions, x.(string))
				}
			}
			res := fmt.Sprint(st["Resource"])
			if r, ok := st["Resource"].(string); ok {
				res = r
			}
			for _, a := range actions {
				got[a] = res
			}
		}
	}
	if len(got) == 0 {
		t.Fatalf("no policy of %s", role)
	}
	return got
}

// The CDN's cache key and the composer's rule are one list: CloudFront
// keys the pages on the query string and Settings.CDNKeyHeaders only (it
// ignores Vary), and the composer is told the same headers in
// COMPOSER_CDN_KEY_HEADERS, so that a page that used a fragment answer
// varying on any other header is private (docs/caching.md).
func TestPagesCacheKeyIsWhatTheComposerConsidersKeyed(t *testing.T) {
	config, err := os.ReadFile("../composer/settings/settings.go")
	if err != nil || !strings.Contains(string(config), `"COMPOSER_CDN_KEY_HEADERS"`) {
		t.Fatalf("the composer has no COMPOSER_CDN_KEY_HEADERS setting (%v)", err)
	}
	for _, headers := range [][]string{nil, {"Accept-Language", "CloudFront-Viewer-Country"}} {
		t.Run(strings.Join(headers, ","), func(t *testing.T) {
			_, tpl := synthWith(t, func(s *Settings) { s.CDNKeyHeaders = headers })
			policies := *tpl.FindResources(jsii.String("AWS::CloudFront::CachePolicy"), nil)
			if len(policies) != 1 {
				t.Fatalf("%d cache policies, want the pages' one", len(policies))
			}
			var key map[string]any
			for _, p := range policies {
				key = (*p)["Properties"].(map[string]any)["CachePolicyConfig"].(map[string]any)["ParametersInCacheKeyAndForwardedToOrigin"].(map[string]any)
			}
			if got := key["QueryStringsConfig"].(map[string]any)["QueryStringBehavior"]; got != "all" {
				t.Errorf("query strings: %v, want all", got)
			}
			if got := key["CookiesConfig"].(map[string]any)["CookieBehavior"]; got != "none" {
				t.Errorf("cookies: %v, want none (pages that depend on cookies are private)", got)
			}
			hc := key["HeadersConfig"].(map[string]any)
			var keyed []string
			if hs, ok := hc["Headers"].([]any); ok {
				for _, h := range hs {
					keyed = append(keyed, h.(string))
				}
			}
			if want := map[bool]string{true: "none", false: "whitelist"}[len(headers) == 0]; hc["HeaderBehavior"] != want {
				t.Errorf("header behavior %v, want %s", hc["HeaderBehavior"], want)
			}
			if strings.Join(keyed, ",") != strings.Join(headers, ",") {
				t.Errorf("the policy keys on %q, want %q", keyed, headers)
			}
			tpl.HasResourceProperties(jsii.String("AWS::ECS::TaskDefinition"), &map[string]any{
				"ContainerDefinitions": assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(&map[string]any{
					"Environment": assertions.Match_ArrayWith(&[]any{
						map[string]any{"Name": "COMPOSER_CDN_KEY_HEADERS", "Value": strings.Join(keyed, ",")},
					}),
				})}),
			})
		})
	}
}
