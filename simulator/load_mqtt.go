package simulator

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/firegrid/firegrid/contract"
)

// loadConn is one MQTT 3.1.1 connection of a load run, as lean as a
// device's: a message is written at once and its PUBACK read by the
// connection's one reader goroutine, which calls the message's done; no
// goroutine, token or copy per message. The loader shares the machine with
// the broker it measures, so what it spends is taken from the broker.
//
// It also drains a subscription (a bare broker's stand-in for ingest):
// every message delivered is handed to onMessage and acknowledged, the
// acknowledgements of one read written together.
type loadConn struct {
	conn net.Conn
	r    *bufio.Reader

	mu      sync.Mutex
	wbuf    []byte
	next    uint16
	pending map[uint16]func(error)
	err     error // why the connection ended; nil while it runs

	onMessage func(topic string, payload []byte)
	subacked  chan byte // the SUBACK's return code
	done      chan struct{}
}

// errLoadClosed is the error of messages still unacknowledged when the
// load closes its connection.
var errLoadClosed = errors.New("connection closed")

// brokerAddr is the host:port of an MQTT URL (tcp:// or mqtt://; the load
// speaks plain MQTT).
func brokerAddr(brokerURL string) (string, error) {
	if err := checkBrokerURL(brokerURL); err != nil {
		return "", err
	}
	u, _ := url.Parse(brokerURL)
	switch u.Scheme {
	case "tcp", "mqtt":
	default:
		return "", fmt.Errorf("mqtt url %q: the load speaks plain MQTT (tcp:// or mqtt://)", brokerURL)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "1883"), nil
	}
	return u.Host, nil
}

// dialLoadConn connects and waits for the CONNACK. keepalive is what the
// client announces; the load's pinger keeps idle connections within it.
func dialLoadConn(ctx context.Context, addr, clientID, username, password string, keepalive time.Duration, readBuf int) (*loadConn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := &loadConn{conn: conn, r: bufio.NewReaderSize(conn, readBuf), pending: map[uint16]func(error){},
		subacked: make(chan byte, 1), done: make(chan struct{})}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	} else {
		conn.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if _, err := conn.Write(connectPacket(clientID, username, password, keepalive)); err != nil {
		conn.Close()
		return nil, err
	}
	typ, body, err := c.readPacket()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("no CONNACK: %w", err)
	}
	if typ>>4 != 2 || len(body) != 2 {
		conn.Close()
		return nil, fmt.Errorf("want a CONNACK, got packet type %d", typ)
	}
	if body[1] != 0 {
		conn.Close()
		return nil, fmt.Errorf("connection refused, CONNACK code %d (%s)", body[1], connackReason(body[1]))
	}
	conn.SetDeadline(time.Time{})
	go c.read()
	return c, nil
}

func connackReason(code byte) string {
	switch code {
	case 1:
		return "protocol version"
	case 2:
		return "client id rejected"
	case 3:
		return "server unavailable"
	case 4:
		return "bad user name or password"
	case 5:
		return "not authorized"
	}
	return "unknown"
}

// connectPacket is an MQTT 3.1.1 CONNECT with a clean session.
func connectPacket(clientID, username, password string, keepalive time.Duration) []byte {
	var body []byte
	body = appendString(body, "MQTT")
	flags := byte(0x02) // clean session
	if username != "" {
		flags |= 0x80
		if password != "" {
			flags |= 0x40
		}
	}
	body = append(body, 4, flags)
	body = binary.BigEndian.AppendUint16(body, uint16(min(keepalive/time.Second, 0xFFFF)))
	body = appendString(body, clientID)
	if username != "" {
		body = appendString(body, username)
		if password != "" {
			body = appendString(body, password)
		}
	}
	return appendPacket(nil, 0x10, body)
}

func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// appendPacket appends a fixed header (type and flags, remaining length)
// and the body.
func appendPacket(b []byte, header byte, body []byte) []byte {
	b = append(b, header)
	b = appendLength(b, len(body))
	return append(b, body...)
}

func appendLength(b []byte, n int) []byte {
	for {
		d := byte(n % 128)
		n /= 128
		if n > 0 {
			d |= 0x80
		}
		b = append(b, d)
		if n == 0 {
			return b
		}
	}
}

// PublishAsync writes the message and returns; done is called once the
// broker acknowledged it (QoS 1), at once for QoS 0, or with the error
// that ended the connection.
func (c *loadConn) PublishAsync(topic string, qos byte, payload []byte, done func(error)) {
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		done(err)
		return
	}
	var id uint16
	if qos > 0 {
		for {
			c.next++
			if c.next == 0 {
				c.next = 1
			}
			if _, busy := c.pending[c.next]; !busy {
				break
			}
		}
		id = c.next
		c.pending[id] = done
	}
	n := 2 + len(topic) + len(payload)
	header := byte(0x30)
	if qos > 0 {
		n += 2
		header |= qos << 1
	}
	b := append(c.wbuf[:0], header)
	b = appendLength(b, n)
	b = appendString(b, topic)
	if qos > 0 {
		b = binary.BigEndian.AppendUint16(b, id)
	}
	b = append(b, payload...)
	c.wbuf = b
	c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := c.conn.Write(b)
	c.mu.Unlock()
	if err != nil {
		c.fail(err)
		if qos == 0 {
			done(err)
		}
		return
	}
	if qos == 0 {
		done(nil)
	}
}

// Subscribe subscribes to filter at QoS 1 and calls f from the reader for
// every message delivered, each acknowledged after f returned. It returns
// once the broker granted the subscription.
func (c *loadConn) Subscribe(ctx context.Context, filter string, f func(topic string, payload []byte)) error {
	c.mu.Lock()
	c.onMessage = f
	var body []byte
	body = binary.BigEndian.AppendUint16(body, 1)
	body = appendString(body, filter)
	body = append(body, 1)
	_, err := c.conn.Write(appendPacket(nil, 0x82, body))
	c.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case code := <-c.subacked:
		if code > 1 {
			return fmt.Errorf("subscription to %s refused (SUBACK %#x)", filter, code)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("subscribe to %s: %w", filter, c.closedErr())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ping sends a PINGREQ (the load's pinger, for idle connections).
func (c *loadConn) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		c.conn.Write([]byte{0xC0, 0})
	}
}

func (c *loadConn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// fail ends the connection: every message not yet acknowledged gets err.
func (c *loadConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	c.conn.Close()
	for _, done := range pending {
		done(err)
	}
}

// Close disconnects; what is still unacknowledged fails.
func (c *loadConn) Close() error {
	c.mu.Lock()
	if c.err == nil {
		c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		c.conn.Write([]byte{0xE0, 0})
	}
	c.mu.Unlock()
	c.fail(errLoadClosed)
	<-c.done
	return nil
}

// read reads packets until the connection ends: PUBACKs complete their
// messages; delivered messages go to onMessage and are acknowledged.
func (c *loadConn) read() {
	defer close(c.done)
	var acks []byte
	for {
		typ, body, err := c.readPacket()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("connection closed by the broker")
			}
			c.fail(err)
			return
		}
		switch typ >> 4 {
		case 4: // PUBACK
			if len(body) < 2 {
				continue
			}
			id := binary.BigEndian.Uint16(body)
			c.mu.Lock()
			done := c.pending[id]
			delete(c.pending, id)
			c.mu.Unlock()
			if done != nil {
				done(nil)
			}
		case 3: // PUBLISH
			qos := (typ >> 1) & 3
			if len(body) < 2 {
				continue
			}
			n := int(binary.BigEndian.Uint16(body))
			if len(body) < 2+n {
				continue
			}
			topic, rest := string(body[2:2+n]), body[2+n:]
			if qos > 0 {
				if len(rest) < 2 {
					continue
				}
				acks = append(acks, 0x40, 2, rest[0], rest[1])
				rest = rest[2:]
			}
			if c.onMessage != nil {
				c.onMessage(topic, rest)
			}
		case 9: // SUBACK
			if len(body) >= 3 {
				select {
				case c.subacked <- body[2]:
				default:
				}
			}
		}
		// Acknowledge what was delivered once nothing more is waiting to
		// be read: one write for a burst.
		if len(acks) > 0 && c.r.Buffered() == 0 {
			c.mu.Lock()
			if c.err == nil {
				c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				c.conn.Write(acks)
			}
			c.mu.Unlock()
			acks = acks[:0]
		}
	}
}

// readPacket reads one packet: its first byte and its body. The body is
// valid until the next read.
func (c *loadConn) readPacket() (byte, []byte, error) {
	typ, err := c.r.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, shift := 0, 0
	for {
		d, err := c.r.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n |= int(d&0x7F) << shift
		if d&0x80 == 0 {
			break
		}
		if shift += 7; shift > 21 {
			return 0, nil, errors.New("malformed remaining length")
		}
	}
	body, err := c.r.Peek(n)
	if err == bufio.ErrBufferFull {
		body = make([]byte, n)
		_, err = io.ReadFull(c.r, body)
		return typ, body, err
	}
	if err != nil {
		return 0, nil, err
	}
	c.r.Discard(n)
	return typ, body, nil
}

// deviceLoad is a load's connections, one per device with the device's
// own credentials, as real devices connect; PublishAsync picks the
// connection from the topic's device id. A pinger keeps idle connections
// within their keepalive.
type deviceLoad struct {
	conns map[string]*loadConn
	stop  chan struct{}
	once  sync.Once
}

// loadKeepalive is the keepalive the load's connections announce; they
// are pinged at a third of it when idle or not.
const loadKeepalive = 60 * time.Second

// dialDeviceLoad opens a connection for each of ids with its credentials
// (parallel at a time) and returns once all are up, or with the first
// error (the others closed).
func dialDeviceLoad(ctx context.Context, brokerURL string, creds Credentials, ids []string, parallel int) (*deviceLoad, error) {
	addr, err := brokerAddr(brokerURL)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, ok := creds[id]; !ok {
			return nil, fmt.Errorf("no credentials for device %s: issue them with firegrid devices credentials issue", id)
		}
	}
	d := &deviceLoad{conns: make(map[string]*loadConn, len(ids)), stop: make(chan struct{})}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, max(parallel, 1))
	)
	for _, id := range ids {
		c := creds[id]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conn, err := dialLoadConn(ctx, addr, c.Username, c.Username, c.Password, loadKeepalive, 512)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = fmt.Errorf("device %s: connect to %s: %w", id, brokerURL, err)
				}
				return
			}
			d.conns[id] = conn
		}()
	}
	wg.Wait()
	if first != nil {
		d.Close()
		return nil, first
	}
	go d.pinger()
	return d, nil
}

func (d *deviceLoad) pinger() {
	t := time.NewTicker(loadKeepalive / 3)
	defer t.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-t.C:
			for _, c := range d.conns {
				c.ping()
			}
		}
	}
}

// PublishAsync publishes on the device's own connection.
func (d *deviceLoad) PublishAsync(topic string, qos byte, payload []byte, done func(error)) {
	_, id, _, err := contract.ParseUplinkTopic(topic)
	if err != nil {
		done(err)
		return
	}
	c, ok := d.conns[id]
	if !ok {
		done(fmt.Errorf("publish %s: device %s has no connection (no credentials)", topic, id))
		return
	}
	c.PublishAsync(topic, qos, payload, done)
}

// Close disconnects every device.
func (d *deviceLoad) Close() error {
	d.once.Do(func() {
		close(d.stop)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for _, c := range d.conns {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				c.Close()
			}()
		}
		wg.Wait()
	})
	return nil
}
