package gb26875

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// ReadFrame reads the next frame from r, whose buffer must hold at least
// MaxFrame bytes (bufio.NewReaderSize(conn, MaxFrame)). It skips bytes up
// to a start mark, then reads the header and as many bytes as its length
// says. It returns the frame's bytes (in a new slice) and how many bytes
// it skipped before the start mark.
//
// A frame that Parse refuses is returned with an *Error: its bytes, so
// that it can be kept as a dead letter, and what of its header could be
// read, so that it can be denied. The stream goes on after it: after a
// bad checksum, behind the frame; after a length over MaxData or a missing
// end mark, whose bounds cannot be trusted, one byte after its start, so
// that a real frame right behind a stray '@' is still found. Errors from r
// are returned as they are, io.ErrUnexpectedEOF for a stream that ends
// inside a frame.
func ReadFrame(r *bufio.Reader) (frame []byte, skipped int, err error) {
	if r.Size() < MaxFrame {
		return nil, 0, errors.New("gb26875: ReadFrame needs a reader buffer of at least MaxFrame bytes")
	}
	for {
		b, err := r.Peek(2)
		if err != nil {
			if err == io.EOF && len(b) == 1 {
				_, _ = r.Discard(1)
				skipped++
			}
			return nil, skipped, err
		}
		if b[0] == '@' && b[1] == '@' {
			break
		}
		_, _ = r.Discard(1)
		skipped++
	}
	head, err := r.Peek(HeaderSize)
	if err != nil {
		return nil, skipped, noEOF(err)
	}
	n := int(binary.LittleEndian.Uint16(head[24:26]))
	if n > MaxData {
		frame = append([]byte(nil), head...)
		_, _ = r.Discard(1)
		_, _, perr := Parse(frame)
		return frame, skipped, perr
	}
	b, err := r.Peek(Overhead + n)
	if err != nil {
		return nil, skipped, noEOF(err)
	}
	frame = append([]byte(nil), b...)
	_, _, perr := Parse(frame)
	var fe *Error
	if errors.As(perr, &fe) && fe.Reason == BadFrame {
		_, _ = r.Discard(1)
	} else {
		_, _ = r.Discard(len(frame))
	}
	return frame, skipped, perr
}

// noEOF turns an EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
