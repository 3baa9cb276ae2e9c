package bus

import (
	"encoding/json"
	"fmt"

	"github.com/firegrid/firegrid/contract"
)

// A Codec turns one topic's contract values into Kafka record values and
// back. Its Name travels in every record's "fg-codec" header, so a
// consumer decodes each record with the codec that wrote it: a new codec
// version is added beside the old one, and both are read while a topic
// still holds records of the old.
type Codec interface {
	// Name is the codec and its version, e.g. "json/1".
	Name() string
	// Append appends the encoding of v to dst.
	Append(dst []byte, v any) ([]byte, error)
	// Decode returns the value b encodes (a pointer to the topic's type).
	Decode(b []byte) (any, error)
}

// codecHeader names the codec of a record.
const codecHeader = "fg-codec"

// JSONCodecName is the name, in the "fg-codec" header, of the records the
// JSON codec writes; a record without the header is read as JSON too.
const JSONCodecName = "json/1"

// jsonCodec encodes a topic's values as JSON: what the incidents topic
// carries for other systems to read, the format records without a codec
// header are read in, and what every topic carried before proto/1.
type jsonCodec struct{ topic string }

func (jsonCodec) Name() string { return JSONCodecName }

func (c jsonCodec) Append(dst []byte, v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(dst, b...), err
}

func (c jsonCodec) Decode(b []byte) (any, error) {
	v := contract.NewValue(c.topic)
	if v == nil {
		return nil, fmt.Errorf("json codec: topic %q carries nothing the contract knows", c.topic)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}

// JSONTopics are the topics other systems read as logs - every incident
// change, every hazard change - which stay JSON so that kcat and those
// systems read them as they are.
var JSONTopics = []string{contract.TopicIncidents, contract.TopicHazards}

// DefaultCodecs returns what the Kafka bus writes unless told otherwise:
// proto/1 for every topic but JSONTopics.
func DefaultCodecs() map[string]Codec {
	m := ProtoCodecs()
	for _, t := range JSONTopics {
		m[t] = jsonCodec{t}
	}
	return m
}

// JSONCodecs returns a JSON codec for every pipeline topic.
func JSONCodecs() map[string]Codec {
	m := map[string]Codec{}
	for _, t := range contract.Topics {
		m[t] = jsonCodec{t}
	}
	return m
}
