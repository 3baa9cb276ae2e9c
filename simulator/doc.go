// Package simulator plays device fleets and fire scenarios against a
// running firegrid, over MQTT, in contract v1.
//
// In the data flow it stands where the devices stand: it publishes uplinks
// on fg/v1/{kind}/{id}/{event|telemetry} and nothing else. A Fleet gives
// every device a heartbeat schedule with seeded jitter and plausible values
// (smoke temperature, battery and signal; hydrant pressure; charger port
// sessions). A Scenario is a YAML timeline of steps (an alarm at 5 s, a
// pressure drop, a detector that goes silent). A Timeline merges the two
// into one deterministic sequence of Publications, and a Runner plays that
// sequence on a Clock through a Publisher, faster than real time if asked.
//
// The same devices, scenario and seed always give the same sequence, so a
// scenario replayed in CI is a reproducible test. The package never reads
// from MQTT and never talks to firegrid's internals: what a test expects of
// firegrid belongs to that test, not to the simulator.
package simulator
