package simulator

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/firegrid/firegrid/ingest/gb26875"
)

// UnitPublisher sends the transmission units' frames of a run (topics
// gb26875/{unit}) to a GB/T 26875.3 listener over TCP, a connection per
// unit as a real unit keeps one, and everything else through Next. A frame
// is published once the centre confirmed it (command 3 with its serial);
// a deny, or no answer in time, is an error and the connection is dropped
// (the next frame dials again). A control frame from the centre (setting
// the unit's clock) is confirmed on the way. It is safe for concurrent
// use.
type UnitPublisher struct {
	// Addr is the listener, host:port.
	Addr string
	// Next takes every other publication (the MQTT publisher); nil refuses
	// them.
	Next Publisher

	mu    sync.Mutex
	conns map[string]*unitConn
}

type unitConn struct {
	mu sync.Mutex
	c  net.Conn
	r  *bufio.Reader
}

// Publish sends one publication.
func (p *UnitPublisher) Publish(ctx context.Context, topic string, qos byte, retained bool, payload []byte) error {
	unit, ok := strings.CutPrefix(topic, UnitTopicPrefix)
	if !ok {
		if p.Next == nil {
			return fmt.Errorf("unit publisher: %s is not a transmission unit's frame", topic)
		}
		return p.Next.Publish(ctx, topic, qos, retained, payload)
	}
	if len(payload) < gb26875.Overhead {
		return fmt.Errorf("unit %s: %d bytes are not a frame", unit, len(payload))
	}
	uc, err := p.conn(ctx, unit)
	if err != nil {
		return err
	}
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if err := uc.exchange(ctx, payload); err != nil {
		p.drop(unit, uc)
		return fmt.Errorf("unit %s: %w", unit, err)
	}
	return nil
}

// exchange writes a frame and reads until the centre answers it.
func (uc *unitConn) exchange(ctx context.Context, frame []byte) error {
	deadline := time.Now().Add(DefaultPublishTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = uc.c.SetDeadline(deadline)
	if _, err := uc.c.Write(frame); err != nil {
		return err
	}
	serial := binary.LittleEndian.Uint16(frame[2:4])
	for {
		b, _, err := gb26875.ReadFrame(uc.r)
		if err != nil {
			return err
		}
		f, _, err := gb26875.Parse(b)
		if err != nil {
			continue
		}
		switch {
		case f.Command == gb26875.CmdControl:
			reply := gb26875.Reply(f, gb26875.CmdConfirm, f.Destination, gb26875.StampOf(time.Now()))
			if _, err := uc.c.Write(reply.Bytes()); err != nil {
				return err
			}
		case f.Command == gb26875.CmdConfirm && f.Serial == serial:
			return nil
		case f.Command == gb26875.CmdDeny && f.Serial == serial:
			return errors.New("the centre denied frame " + fmt.Sprint(serial))
		}
	}
}

func (p *UnitPublisher) conn(ctx context.Context, unit string) (*unitConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if uc := p.conns[unit]; uc != nil {
		return uc, nil
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", p.Addr)
	if err != nil {
		return nil, fmt.Errorf("unit %s: %w", unit, err)
	}
	if p.conns == nil {
		p.conns = map[string]*unitConn{}
	}
	uc := &unitConn{c: c, r: bufio.NewReaderSize(c, gb26875.MaxFrame)}
	p.conns[unit] = uc
	return uc, nil
}

func (p *UnitPublisher) drop(unit string, uc *unitConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns[unit] == uc {
		delete(p.conns, unit)
	}
	uc.c.Close()
}

// Close closes every unit's connection.
func (p *UnitPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for unit, uc := range p.conns {
		uc.c.Close()
		delete(p.conns, unit)
	}
	return nil
}
