// The Pulumi entry point (Pulumi.yaml: runtime go): `pulumi up --stack dev`
// runs infra.Program. See infra/README.md.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/plinko-pir/plinko/infra"
)

func main() {
	pulumi.Run(infra.Program)
}
