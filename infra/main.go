// Command infra is the composer's AWS deployment as a CDK app:
//
//	cd infra && npx cdk deploy   (or: cdk deploy, with the CDK CLI installed)
//
// See the README's "Deploying" section. `go test` synthesises the stack
// offline and checks it, cdk-nag's AwsSolutions rules included.
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

func main() {
	defer jsii.Close()
	app := awscdk.NewApp(nil)
	NewStack(app, "Composer", &awscdk.StackProps{Env: env(app)}, settings(app))
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	app.Synth(nil)
}

// settings reads the stack's settings from CDK context (-c name=value).
func settings(app awscdk.App) Settings {
	ctx := func(name, def string) string {
		if v, ok := app.Node().TryGetContext(jsii.String(name)).(string); ok && v != "" {
			return v
		}
		return def
	}
	root, _ := filepath.Abs("..")
	return Settings{
		RepoRoot:        root,
		RegistryPrefix:  ctx("registryPrefix", "/ssr-mfe/"),
		TemplatesPrefix: ctx("templatesPrefix", "site/"),
		// eu-west-1's; other regions: -c cloudfrontPrefixList=pl-...
		CloudFrontPrefixList: ctx("cloudfrontPrefixList", "pl-4fa04526"),
		ShutdownGrace:        awscdk.Duration_Seconds(jsii.Number(25)),
		// Request headers the pages' cache keys on (-c cdnKeyHeaders=A,B);
		// the composer is told the same.
		CDNKeyHeaders: splitList(ctx("cdnKeyHeaders", "")),
	}
}

// splitList reads a comma-separated list, without empty items.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// env deploys to the account and region of the CLI's credentials (the CDK
// CLI sets CDK_DEFAULT_ACCOUNT and CDK_DEFAULT_REGION).
func env(awscdk.App) *awscdk.Environment {
	return &awscdk.Environment{
		Account: jsii.String(os.Getenv("CDK_DEFAULT_ACCOUNT")),
		Region:  jsii.String(os.Getenv("CDK_DEFAULT_REGION")),
	}
}
