// Package contract holds what travels between firegrid's stages and what
// devices and consoles depend on: the device message and the reading ingest
// makes of it, the rule engine's signal, the incident and its changes, the
// downlink command, the dead letter, the control message that reaches every
// rules instance, and the fg/v1 MQTT topics.
//
// It is the bottom of the pipeline: producers and consumers both import it,
// and no stage imports another stage to read its messages. It holds types,
// their small methods and the topic grammar; it does no I/O and knows no
// stage. In `firegrid serve` these values pass between stages as they are;
// bytes exist only at the edges (MQTT, HTTP, Kafka, disk), where a codec of
// the bus or a decoder of ingest turns them into and out of bytes.
//
// Values handed to the bus are shared by every consumer of the topic in the
// same process: a consumer must treat what it receives as read-only.
package contract
