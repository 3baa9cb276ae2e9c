// Package configs embeds firegrid's example configuration, rules, demo
// territory and scenarios, so that the binary runs the all-in-one demo
// from anywhere with no files beside it.
package configs

import "embed"

// FS holds rules.yaml, firegrid.yaml, models.yaml, demo/, scenarios/ and
// people/.
//
//go:embed rules.yaml firegrid.yaml models.yaml demo scenarios people
var FS embed.FS
