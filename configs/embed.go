// Package configs embeds firegrid's example configuration, rules, demo
// territory and scenarios, so that the binary runs the all-in-one demo
// from anywhere with no files beside it.
package configs

import "embed"

// FS holds rules.yaml, firegrid.yaml, models.yaml, demo/ and scenarios/.
//
//go:embed rules.yaml firegrid.yaml models.yaml demo scenarios
var FS embed.FS
