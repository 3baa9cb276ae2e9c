package simulator

import "math"

// round returns v rounded to the given number of decimals, so that
// generated values read like a device's (22.4 °C, not 22.41837).
func round(v float64, decimals int) float64 {
	p := math.Pow10(decimals)
	return math.Round(v*p) / p
}
