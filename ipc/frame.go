// Package ipc provides the queue protocol between booker and its seller
// processes over a Unix stream socket.
//
// # Wire format
//
// The stream is a sequence of frames. A frame is an 8-byte header followed
// by a payload:
//
//	offset size field
//	0      2    magic "BK" (0x42 0x4B)
//	2      1    protocol version (Version, currently 3)
//	3      1    message type (TypeHello ... TypeHeartbeat)
//	4      4    payload length, big-endian uint32, at most MaxFrame
//	8      n    payload: the message's fields
//
// Hello, Welcome, Ready and Heartbeat payloads are one JSON object with
// the fields' json names. Request and Result, one of each per booking,
// are binary (since version 2; version 3 carries a ticket.Booking without
// the event, with its fingerprint): their fields in
// the order below, where uv is an unsigned varint, v a signed (zig-zag)
// varint as in encoding/binary, str a uv length followed by the bytes,
// and flags one byte:
//
//	Request  seq uv, event str, id str, buyer str, seat v, fp str, deadline v
//	Result   seq uv, slot v, code str, message str,
//	         flags (1 booking, 2 replayed, 4 lead, 8 locked, 16 compacted),
//	         [booking, when code is "ok": id str, seat v, buyer str, seller v, fp str],
//	         batch v, wait v (ns), hold v (ns), start v, end v (Unix ns)
//
// A frame with a wrong magic, an unknown version or type, an oversized
// length, or a payload that does not decode exactly (wrong JSON, a
// truncated field, a string longer than the payload, unknown flags,
// trailing bytes) is malformed: Recv returns an error wrapping
// ErrMalformed and the connection must be dropped (a stream cannot be
// resynchronised).
//
// # Conversation
//
//	seller                          booker
//	Hello{slot,pid,version}   --->
//	                          <---  Welcome{slot, store config, window}
//	Ready{}                   --->  (the seller's store is open)
//	                          <---  Request{seq,...}   at most window unanswered
//	Result{seq,...}           --->  (each Result frees one place in the window)
//	Heartbeat{}               <-->  every heartbeat interval, both ways
//
// Flow control is credit-based, as multiprocessing.Queue.get without the
// polling: booker keeps at most Welcome.Window requests unanswered on a
// connection, so each seller pulls work at its own pace with a small
// prefetch. A seller exits when its connection reaches EOF, so sellers
// never outlive booker. When booker is done with a seller it closes the
// connection after the last Result.
package ipc

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Version is the protocol version this package speaks.
const Version = 3

// MaxFrame is the largest payload accepted, in bytes.
const MaxFrame = 1 << 20

const headerSize = 8

var magic = [2]byte{'B', 'K'}

// ErrMalformed is returned (wrapped) by Recv for a frame that breaks the
// wire format. The connection cannot be used afterwards.
var ErrMalformed = errors.New("ipc: malformed frame")

// Type identifies a message.
type Type uint8

// Message types.
const (
	TypeHello Type = iota + 1
	TypeWelcome
	TypeReady
	TypeRequest
	TypeResult
	TypeHeartbeat
	typeEnd
)

// Message is one of *Hello, *Welcome, *Ready, *Request, *Result,
// *Heartbeat.
type Message interface {
	// Type returns the message's type byte.
	Type() Type
}

func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypeWelcome:
		return new(Welcome)
	case TypeReady:
		return new(Ready)
	case TypeRequest:
		return new(Request)
	case TypeResult:
		return new(Result)
	case TypeHeartbeat:
		return new(Heartbeat)
	}
	return nil
}

// Conn is one end of a framed connection. Send may be called from many
// goroutines at once; Recv from one goroutine at a time.
type Conn struct {
	nc  net.Conn
	r   *bufio.Reader
	wm  sync.Mutex
	w   *bufio.Writer
	enc []byte           // Send's payload buffer, guarded by wm
	dec []byte           // Recv's payload buffer
	hd  [headerSize]byte // Recv's header buffer
}

// NewConn wraps a stream connection. The Conn owns nc: Close closes it.
func NewConn(nc net.Conn) *Conn {
	return &Conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}
}

// Send writes the messages as consecutive frames and flushes once.
func (c *Conn) Send(msgs ...Message) error {
	c.wm.Lock()
	defer c.wm.Unlock()
	for _, m := range msgs {
		var err error
		if c.enc, err = writeFrame(c.w, m, c.enc[:0]); err != nil {
			return err
		}
	}
	if err := c.w.Flush(); err != nil {
		return fmt.Errorf("ipc: send: %w", err)
	}
	return nil
}

// writeFrame writes m as one frame, encoding it in buf, which it returns
// for reuse.
func writeFrame(w *bufio.Writer, m Message, buf []byte) ([]byte, error) {
	payload := buf
	switch m := m.(type) {
	case *Request:
		payload = m.appendBinary(buf)
	case *Result:
		payload = m.appendBinary(buf)
	default:
		var err error
		if payload, err = json.Marshal(m); err != nil {
			return buf, fmt.Errorf("ipc: encode %T: %w", m, err)
		}
	}
	if len(payload) > MaxFrame {
		return buf, fmt.Errorf("ipc: %T is %d bytes, over the %d-byte frame limit", m, len(payload), MaxFrame)
	}
	var h [headerSize]byte
	h[0], h[1], h[2], h[3] = magic[0], magic[1], Version, byte(m.Type())
	binary.BigEndian.PutUint32(h[4:], uint32(len(payload)))
	w.Write(h[:])
	_, err := w.Write(payload)
	if cap(payload) > cap(buf) && cap(payload) <= 64<<10 {
		buf = payload // keep a grown buffer, unless a rare huge one
	}
	return buf, err
}

// Recv reads the next message. It returns io.EOF when the peer closed the
// connection cleanly between frames, and an error wrapping ErrMalformed
// for a frame that breaks the wire format.
func (c *Conn) Recv() (Message, error) {
	m, buf, err := readFrame(c.r, c.hd[:], c.dec)
	if cap(buf) <= 64<<10 {
		c.dec = buf // keep the payload buffer, unless a rare huge one
	}
	return m, err
}

// readFrame reads one frame, using h for the header and buf (returned,
// maybe grown) for the payload. Decoded messages copy what they keep.
func readFrame(r io.Reader, h, buf []byte) (Message, []byte, error) {
	if _, err := io.ReadFull(r, h[:headerSize]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, buf, fmt.Errorf("%w: truncated header", ErrMalformed)
		}
		return nil, buf, err
	}
	if h[0] != magic[0] || h[1] != magic[1] {
		return nil, buf, fmt.Errorf("%w: bad magic %#x%02x", ErrMalformed, h[0], h[1])
	}
	if h[2] != Version {
		return nil, buf, fmt.Errorf("%w: protocol version %d, want %d", ErrMalformed, h[2], Version)
	}
	m := newMessage(Type(h[3]))
	if m == nil {
		return nil, buf, fmt.Errorf("%w: unknown message type %d", ErrMalformed, h[3])
	}
	n := binary.BigEndian.Uint32(h[4:])
	if n > MaxFrame {
		return nil, buf, fmt.Errorf("%w: length %d over the %d-byte limit", ErrMalformed, n, MaxFrame)
	}
	if uint32(cap(buf)) < n {
		buf = make([]byte, n)
	}
	payload := buf[:n]
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, buf, fmt.Errorf("%w: truncated payload: %w", ErrMalformed, err)
	}
	var err error
	switch m := m.(type) {
	case *Request:
		err = m.decodeBinary(payload)
	case *Result:
		err = m.decodeBinary(payload)
	default:
		err = json.Unmarshal(payload, m)
	}
	if err != nil {
		return nil, buf, fmt.Errorf("%w: %T payload: %w", ErrMalformed, m, err)
	}
	return m, buf, nil
}

// Buffered returns the number of bytes received but not yet returned by
// Recv: when it is zero, the next Recv waits for the peer.
func (c *Conn) Buffered() int { return c.r.Buffered() }

// SetReadDeadline sets the deadline of the next Recv calls.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// Close closes the connection; a blocked Recv returns an error.
func (c *Conn) Close() error { return c.nc.Close() }

// CloseWrite half-closes the connection: the peer's Recv sees EOF after
// the frames already sent, while this end can still Recv.
func (c *Conn) CloseWrite() error {
	if uc, ok := c.nc.(*net.UnixConn); ok {
		return uc.CloseWrite()
	}
	return c.nc.Close()
}

// NetConn returns the underlying connection.
func (c *Conn) NetConn() net.Conn { return c.nc }
