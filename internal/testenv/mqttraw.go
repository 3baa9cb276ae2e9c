package testenv

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// RawMQTT is a bare MQTT client, for what paho cannot send or show: MQTT
// 5 and its reason codes, a second CONNECT, a PUBACK that does not come.
type RawMQTT struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
	v    byte
}

// DialMQTT connects with MQTT version v (4 is 3.1.1, 5 is 5) and returns
// the client and the CONNACK's reason code.
func DialMQTT(t *testing.T, addr string, v byte, id, user, secret string) (*RawMQTT, byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &RawMQTT{t: t, conn: conn, r: bufio.NewReader(conn), v: v}
	c.Send(c.Connect(id, user, secret))
	pk, err := c.Read(5 * time.Second)
	if err != nil || pk.FixedHeader.Type != packets.Connack {
		t.Fatalf("no CONNACK: %v %+v", err, pk)
	}
	return c, pk.ReasonCode
}

// Connect returns a CONNECT packet.
func (c *RawMQTT) Connect(id, user, secret string) packets.Packet {
	name := "MQTT"
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: c.v,
		Connect: packets.ConnectParams{ProtocolName: []byte(name), Clean: true, Keepalive: 30, ClientIdentifier: id,
			UsernameFlag: user != "", Username: []byte(user), PasswordFlag: secret != "", Password: []byte(secret)}}
}

// Send writes a CONNECT or PUBLISH packet.
func (c *RawMQTT) Send(pk packets.Packet) {
	c.t.Helper()
	var buf bytes.Buffer
	var err error
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(&buf)
	case packets.Publish:
		err = pk.PublishEncode(&buf)
	}
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.Write(buf.Bytes()); err != nil {
		c.t.Fatal(err)
	}
}

// Read returns the next packet (CONNACK, PUBACK or DISCONNECT decoded),
// or the error that ended the connection.
func (c *RawMQTT) Read(timeout time.Duration) (packets.Packet, error) {
	c.conn.SetReadDeadline(time.Now().Add(timeout))
	hb, err := c.r.ReadByte()
	if err != nil {
		return packets.Packet{}, err
	}
	var pk packets.Packet
	pk.ProtocolVersion = c.v
	if err := pk.FixedHeader.Decode(hb); err != nil {
		return pk, err
	}
	n, _, err := packets.DecodeLength(c.r)
	if err != nil {
		return pk, err
	}
	pk.FixedHeader.Remaining = n
	body := make([]byte, n)
	if _, err := ioReadFull(c.r, body); err != nil {
		return pk, err
	}
	switch pk.FixedHeader.Type {
	case packets.Connack:
		err = pk.ConnackDecode(body)
	case packets.Puback:
		err = pk.PubackDecode(body)
	case packets.Disconnect:
		err = pk.DisconnectDecode(body)
	}
	return pk, err
}

func ioReadFull(r *bufio.Reader, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := r.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Publish sends a QoS 1 PUBLISH.
func (c *RawMQTT) Publish(id uint16, topic, payload string) {
	c.Send(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: c.v,
		PacketID: id, TopicName: topic, Payload: []byte(payload)})
}
