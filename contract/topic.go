package contract

import (
	"errors"
	"strings"
)

// The MQTT topics of contract v1:
//
//	fg/v1/{kind}/{device_id}/event       uplink: something happened
//	fg/v1/{kind}/{device_id}/telemetry   uplink: periodic values, the heartbeat
//	fg/v1/{kind}/{device_id}/cmd         downlink: a command to the device
const (
	// TopicPrefix starts every contract-v1 topic.
	TopicPrefix = "fg/v1/"
	// ChannelCommand is the last segment of a downlink topic.
	ChannelCommand = "cmd"

	// EventFilter and TelemetryFilter are the MQTT filters of the two
	// uplink channels; ingest subscribes to them (never to cmd).
	EventFilter     = "fg/v1/+/+/event"
	TelemetryFilter = "fg/v1/+/+/telemetry"
	// CommandFilter matches every downlink topic.
	CommandFilter = "fg/v1/+/+/cmd"
	// AllFilter matches every contract-v1 topic.
	AllFilter = "fg/v1/#"
)

// UplinkTopic returns fg/v1/{kind}/{device}/{channel}.
func UplinkTopic(kind Kind, device string, ch Channel) string {
	return TopicPrefix + string(kind) + "/" + device + "/" + string(ch)
}

// CommandTopic returns fg/v1/{kind}/{device}/cmd.
func CommandTopic(kind Kind, device string) string {
	return TopicPrefix + string(kind) + "/" + device + "/" + ChannelCommand
}

// Topic returns the uplink topic of m.
func (m Message) Topic() string { return UplinkTopic(m.Kind, m.Device, m.Channel) }

// Topic returns the downlink topic of c.
func (c *Command) Topic() string { return CommandTopic(c.Kind, c.Device) }

// ErrTopic is wrapped by every error of the topic parsers.
var ErrTopic = errors.New("not a contract-v1 topic")

// TopicError says why a topic is not a contract-v1 topic.
type TopicError struct {
	Topic string
	Msg   string
}

func (e *TopicError) Error() string { return "topic " + quote(e.Topic) + ": " + e.Msg }

// Unwrap makes errors.Is(err, ErrTopic) hold.
func (e *TopicError) Unwrap() error { return ErrTopic }

// ParseUplinkTopic splits fg/v1/{kind}/{device_id}/{channel}, channel
// event or telemetry. It allocates nothing for a good topic: it runs once
// per message.
func ParseUplinkTopic(topic string) (Kind, string, Channel, error) {
	kind, id, ch, err := splitTopic(topic)
	if err != nil {
		return "", "", "", err
	}
	channel := Channel(ch)
	if channel != ChannelEvent && channel != ChannelTelemetry {
		return "", "", "", &TopicError{topic, "channel " + quote(ch) + ", want event or telemetry"}
	}
	return kind, id, channel, nil
}

// ParseCommandTopic splits fg/v1/{kind}/{device_id}/cmd.
func ParseCommandTopic(topic string) (Kind, string, error) {
	kind, id, ch, err := splitTopic(topic)
	if err != nil {
		return "", "", err
	}
	if ch != ChannelCommand {
		return "", "", &TopicError{topic, "channel " + quote(ch) + ", want cmd"}
	}
	return kind, id, nil
}

func splitTopic(topic string) (Kind, string, string, error) {
	rest, ok := strings.CutPrefix(topic, TopicPrefix)
	kindS, rest, ok2 := strings.Cut(rest, "/")
	id, ch, ok3 := strings.Cut(rest, "/")
	if !ok || !ok2 || !ok3 || strings.Contains(ch, "/") {
		return "", "", "", &TopicError{topic, "want fg/v1/{kind}/{device_id}/{channel}"}
	}
	kind, err := ParseKind(kindS)
	if err != nil {
		return "", "", "", &TopicError{topic, err.Error()}
	}
	if id == "" {
		return "", "", "", &TopicError{topic, "empty device id"}
	}
	if strings.ContainsAny(id, "+#") {
		return "", "", "", &TopicError{topic, "device id with + or #"}
	}
	return kind, id, ch, nil
}

func quote(s string) string { return string(appendJSONString(nil, s)) }
