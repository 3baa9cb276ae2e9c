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
// scenario replayed in CI is a reproducible test. A scenario's
// expectations (an incident of a type for a site, routed to a station,
// within a time; a command; an escalation; or none of these) are judged by
// Evaluate from what firegrid did: its console stream and its command
// topics in real time (Simulate), or an in-process firegrid on a fake
// clock in virtual time (RunVirtual and a VirtualTarget). Captures record
// MQTT traffic as JSON Lines and replay it; Load pushes a rate of messages
// and measures alarm-to-console latency. The package reads only firegrid's
// public contract: MQTT topics and the console stream.
package simulator
