package ingest

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/firegrid/firegrid/contract"
	"github.com/firegrid/firegrid/devices"
)

func init() {
	RegisterDecoder(contract.SourceChirpStack, func(s Setup) (SourceDecoder, error) {
		return &chirpStackDecoder{platform{reg: s.Registry, models: s.Models}}, nil
	})
	RegisterDecoder(contract.SourceCTWing, func(s Setup) (SourceDecoder, error) {
		return &ctwingDecoder{platform{reg: s.Registry, models: s.Models}}, nil
	})
	RegisterDecoder(contract.SourceOneNET, func(s Setup) (SourceDecoder, error) {
		return &onenetDecoder{platform{reg: s.Registry, models: s.Models}}, nil
	})
}

// platform is what the decoders of network servers and carrier
// platforms share: the registry, to find a device by its address there,
// and the models file, to read its fields.
type platform struct {
	reg    *devices.Registry
	models *Models
}

// model returns the mapping of a device's model.
func (p platform) model(dev *devices.Device) (*Model, *RejectError) {
	md, ok := p.models.Model(dev.Model)
	if !ok {
		return nil, reject(contract.ReasonMissingField, "device %s: its model %q has no field mapping in %s", dev.ID, dev.Model, p.modelsFile())
	}
	if md.Kind != "" && md.Kind != dev.Kind {
		return nil, reject(contract.ReasonKindMismatch, "device %s is a %s, model %q maps %s devices", dev.ID, dev.Kind, md.Name, md.Kind)
	}
	return md, nil
}

func (p platform) modelsFile() string {
	if p.models == nil || p.models.File == "" {
		return "the models file"
	}
	return p.models.File
}

// message makes a device's message of its fields through its model: an
// event when the mapping names one, telemetry otherwise.
func (p platform) message(dev *devices.Device, md *Model, fields map[string]any, platformEvent string, ts time.Time, seq uint64) (contract.Message, *RejectError) {
	r, rej := md.apply(fields, platformEvent)
	if rej != nil {
		return contract.Message{}, reject(rej.Reason, "device %s: %s", dev.ID, rej.Detail)
	}
	m := contract.Message{Kind: dev.Kind, Device: dev.ID, Channel: contract.ChannelTelemetry, TS: ts.UTC(), Seq: seq,
		Event: r.event, Values: r.values, Media: r.media}
	if m.Event != "" {
		m.Channel = contract.ChannelEvent
	}
	return m, nil
}

// alive is a sign of life with nothing else: a device joined or came
// online.
func alive(dev *devices.Device, ts time.Time, seq uint64) contract.Message {
	return contract.Message{Kind: dev.Kind, Device: dev.ID, Channel: contract.ChannelTelemetry, TS: ts.UTC(), Seq: seq}
}

// decodeJSON reads one JSON value, numbers as float64, and nothing after it.
func decodeJSON(b []byte, v any) *RejectError {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return reject(contract.ReasonMalformed, "%v", err)
	}
	if dec.More() {
		return reject(contract.ReasonMalformed, "trailing data after the JSON value")
	}
	return nil
}

// chirpStackDecoder reads a ChirpStack v4 integration event (JSON, as its
// MQTT integration publishes on application/{app}/device/{dev_eui}/event/
// {up|status|join}) into a message of the device with that DevEUI:
//
//   - up: the model's fields from object (ChirpStack's codec), or from
//     data through the model's payload codec; seq is the frame counter.
//   - status: battery_pct from batteryLevel (unless unavailable or on
//     external power), as telemetry.
//   - join: a sign of life.
//
// Other events (ack, txack, log, location) carry nothing firegrid keeps.
// The event's deduplicationId is its key: an event delivered again is
// dropped.
type chirpStackDecoder struct{ platform }

type chirpStackEvent struct {
	DeduplicationID string `json:"deduplicationId"`
	Time            string `json:"time"`
	DeviceInfo      struct {
		DevEUI string `json:"devEui"`
	} `json:"deviceInfo"`
	FCnt   uint32         `json:"fCnt"`
	Data   string         `json:"data"`
	Object map[string]any `json:"object"`
	// status
	BatteryLevel            *float64 `json:"batteryLevel"`
	BatteryLevelUnavailable bool     `json:"batteryLevelUnavailable"`
	ExternalPowerSource     bool     `json:"externalPowerSource"`
}

func (d *chirpStackDecoder) DecodeUplink(u *contract.Uplink) (Decoded, error) {
	parts := strings.Split(u.Topic, "/")
	if len(parts) != 6 || parts[0] != "application" || parts[2] != "device" || parts[4] != "event" {
		return Decoded{}, reject(contract.ReasonBadTopic, "topic %q: want application/{id}/device/{dev_eui}/event/{up|status|join}", u.Topic)
	}
	kind := parts[5]
	if kind != "up" && kind != "status" && kind != "join" {
		return Decoded{}, nil
	}
	var ev chirpStackEvent
	if rej := decodeJSON(u.Payload, &ev); rej != nil {
		return Decoded{}, rej
	}
	eui := ev.DeviceInfo.DevEUI
	if eui == "" {
		eui = parts[3]
	} else if !strings.EqualFold(eui, parts[3]) {
		return Decoded{}, reject(contract.ReasonBadTopic, "deviceInfo.devEui %s, the topic says %s", eui, parts[3])
	}
	dev, ok := d.reg.DeviceByDevEUI(eui)
	if !ok {
		return Decoded{}, reject(contract.ReasonUnknownDevice, "DevEUI %s is not in the registry (devices.csv dev_eui)", eui)
	}
	ts := u.ReceivedAt
	if ev.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, ev.Time)
		if err != nil {
			return Decoded{}, reject(contract.ReasonInvalidField, "time %q: want RFC 3339", ev.Time)
		}
		ts = t
	}
	out := Decoded{Key: ev.DeduplicationID}
	switch kind {
	case "join":
		out.Messages = []contract.Message{alive(dev, ts, 0)}
	case "status":
		m := alive(dev, ts, 0)
		if ev.BatteryLevel != nil && !ev.BatteryLevelUnavailable && !ev.ExternalPowerSource {
			m.Values = map[string]float64{"battery_pct": *ev.BatteryLevel}
		}
		out.Messages = []contract.Message{m}
	case "up":
		md, rej := d.model(dev)
		if rej != nil {
			return Decoded{}, rej
		}
		fields := ev.Object
		if md.Data != "" && ev.Data != "" {
			if fields, rej = md.decodeData(ev.Data); rej != nil {
				return Decoded{}, rej
			}
		}
		m, rej := d.message(dev, md, fields, "", ts, uint64(ev.FCnt))
		if rej != nil {
			return Decoded{}, rej
		}
		out.Messages = []contract.Message{m}
	}
	return out, nil
}

// ctwingDecoder reads a push of China Telecom's CTWing (AIoT) platform's
// subscription into a message of the device with its IMEI, or else its
// CTWing deviceId:
//
//   - dataReport: the model's fields from payload (the platform's
//     object model), or from payload.APPdata (transparent mode) through
//     the model's payload codec.
//   - eventReport: the model's fields from eventContent; the event is the
//     model's events entry for the serviceId, else its event field.
//   - deviceOnlineOfflineReport: eventType 1 (online) is a sign of life;
//     offline is left to firegrid's own heartbeat timeouts.
//
// Others (commandResponse, ...) carry nothing firegrid keeps. The message
// type, device, timestamp and service make the key, so that a push the
// platform retries is dropped.
type ctwingDecoder struct{ platform }

type ctwingPush struct {
	MessageType  string          `json:"messageType"`
	DeviceID     string          `json:"deviceId"`
	IMEI         string          `json:"IMEI"`
	Timestamp    int64           `json:"timestamp"`
	ServiceID    json.RawMessage `json:"serviceId"`
	Payload      map[string]any  `json:"payload"`
	EventType    *int            `json:"eventType"`
	EventContent map[string]any  `json:"eventContent"`
	UpPacketSN   json.RawMessage `json:"upPacketSN"`
}

func (d *ctwingDecoder) DecodeUplink(u *contract.Uplink) (Decoded, error) {
	var p ctwingPush
	if rej := decodeJSON(u.Payload, &p); rej != nil {
		return Decoded{}, rej
	}
	if p.MessageType == "" {
		return Decoded{}, reject(contract.ReasonMissingField, "messageType is required")
	}
	if p.MessageType != "dataReport" && p.MessageType != "eventReport" && p.MessageType != "deviceOnlineOfflineReport" {
		return Decoded{}, nil
	}
	dev, rej := d.device(p.IMEI, p.DeviceID)
	if rej != nil {
		return Decoded{}, rej
	}
	ts := u.ReceivedAt
	if p.Timestamp > 0 {
		ts = time.UnixMilli(p.Timestamp)
	}
	service := rawText(p.ServiceID)
	out := Decoded{}
	if p.Timestamp > 0 {
		out.Key = p.MessageType + "/" + p.DeviceID + "/" + strconv.FormatInt(p.Timestamp, 10) + "/" + service
	}
	seq := uint64(0)
	if n, err := strconv.ParseUint(rawText(p.UpPacketSN), 10, 32); err == nil {
		seq = n
	}
	switch p.MessageType {
	case "deviceOnlineOfflineReport":
		if p.EventType != nil && *p.EventType == 1 {
			out.Messages = []contract.Message{alive(dev, ts, seq)}
		}
		return out, nil
	case "dataReport":
		md, rej := d.model(dev)
		if rej != nil {
			return Decoded{}, rej
		}
		fields := p.Payload
		if app, ok := p.Payload["APPdata"].(string); ok && md.Data != "" {
			if fields, rej = md.decodeData(app); rej != nil {
				return Decoded{}, rej
			}
		}
		m, rej := d.message(dev, md, fields, "", ts, seq)
		if rej != nil {
			return Decoded{}, rej
		}
		out.Messages = []contract.Message{m}
	case "eventReport":
		md, rej := d.model(dev)
		if rej != nil {
			return Decoded{}, rej
		}
		m, rej := d.message(dev, md, p.EventContent, service, ts, seq)
		if rej != nil {
			return Decoded{}, rej
		}
		out.Messages = []contract.Message{m}
	}
	return out, nil
}

// device finds a platform's device by IMEI, else by the platform's id.
func (p platform) device(imei, id string) (*devices.Device, *RejectError) {
	if imei != "" {
		if dev, ok := p.reg.DeviceByIMEI(imei); ok {
			return dev, nil
		}
	}
	if id != "" {
		if dev, ok := p.reg.DeviceByPlatformID(id); ok {
			return dev, nil
		}
	}
	if imei == "" && id == "" {
		return nil, reject(contract.ReasonMissingField, "no IMEI or device id")
	}
	return nil, reject(contract.ReasonUnknownDevice, "IMEI %q, device id %q: not in the registry (devices.csv imei, platform_id)", imei, id)
}

// rawText is a JSON string's text, or a number's digits.
func rawText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// onenetDecoder reads a push of China Mobile's OneNET platform (its HTTP
// push, {"msg": ..., "msg_signature": ..., "nonce": ...}, the signature
// checked by the endpoint) into messages of the devices with their IMEI,
// or else their OneNET dev_id. msg is one message or a list:
//
//   - type 1, a data point: ds_id names the field, value is its value (an
//     object's fields are reached as ds_id.field); the model's events
//     entry for the ds_id, else its event field, names the event. Data
//     points of one device at one time make one message.
//   - type 2, online (status 1): a sign of life; offline is left to
//     firegrid's own heartbeat timeouts.
//
// Others (7, command results) carry nothing firegrid keeps.
type onenetDecoder struct{ platform }

type onenetMsg struct {
	Type   int             `json:"type"`
	DevID  json.RawMessage `json:"dev_id"`
	IMEI   string          `json:"imei"`
	DsID   string          `json:"ds_id"`
	At     int64           `json:"at"`
	Value  any             `json:"value"`
	Status *int            `json:"status"`
}

func (d *onenetDecoder) DecodeUplink(u *contract.Uplink) (Decoded, error) {
	var body struct {
		Msg json.RawMessage `json:"msg"`
	}
	if rej := decodeJSON(u.Payload, &body); rej != nil {
		return Decoded{}, rej
	}
	var msgs []onenetMsg
	switch t := bytes.TrimSpace(body.Msg); {
	case len(t) == 0:
		return Decoded{}, reject(contract.ReasonMissingField, "msg is required")
	case t[0] == '[':
		if rej := decodeJSON(t, &msgs); rej != nil {
			return Decoded{}, rej
		}
	default:
		var m onenetMsg
		if rej := decodeJSON(t, &m); rej != nil {
			return Decoded{}, rej
		}
		msgs = []onenetMsg{m}
	}
	type key struct {
		dev string
		at  int64
	}
	type point struct {
		dev    *devices.Device
		fields map[string]any
		event  string
	}
	var order []key
	points := map[key]*point{}
	var out Decoded
	for i, m := range msgs {
		if m.Type != 1 && m.Type != 2 {
			continue
		}
		dev, rej := d.device(m.IMEI, rawText(m.DevID))
		if rej != nil {
			out.Rejected = append(out.Rejected, reject(rej.Reason, "msg[%d]: %s", i, rej.Detail))
			continue
		}
		ts := u.ReceivedAt
		if m.At > 0 {
			ts = time.UnixMilli(m.At)
		}
		if m.Type == 2 {
			if m.Status != nil && *m.Status == 1 {
				out.Messages = append(out.Messages, alive(dev, ts, 0))
			}
			continue
		}
		if m.DsID == "" {
			out.Rejected = append(out.Rejected, reject(contract.ReasonMissingField, "msg[%d]: ds_id is required", i))
			continue
		}
		k := key{dev.ID, ts.UnixMilli()}
		p := points[k]
		if p == nil {
			p = &point{dev: dev, fields: map[string]any{}}
			points[k] = p
			order = append(order, k)
		}
		p.fields[m.DsID] = m.Value
		if p.event == "" {
			p.event = m.DsID
		}
		if md, ok := d.models.Model(dev.Model); ok {
			if _, isEvent := md.Events[m.DsID]; isEvent {
				p.event = m.DsID
			}
		}
	}
	for _, k := range order {
		p := points[k]
		md, rej := d.model(p.dev)
		if rej != nil {
			out.Rejected = append(out.Rejected, rej)
			continue
		}
		m, rej := d.message(p.dev, md, p.fields, p.event, time.UnixMilli(k.at), 0)
		if rej != nil {
			out.Rejected = append(out.Rejected, rej)
			continue
		}
		out.Messages = append(out.Messages, m)
	}
	return out, nil
}
