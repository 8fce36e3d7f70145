package load

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// client is one buyer slot's HTTP/1.1 keep-alive connection to booker.
// Requests are written by hand and responses parsed by
// http.ReadResponse: the same wire format as net/http's client, without
// its transport's per-request goroutine hand-offs, which on a small
// machine cost the load generator more CPU than booker spends answering.
// The measuring instrument should not be what limits the measurement.
type client struct {
	addr    string // host:port
	host    string // Host header
	path    string // request path
	timeout time.Duration

	// mu guards conn and aborted against abort; everything else is used
	// by the client's one goroutine.
	mu      sync.Mutex
	conn    net.Conn
	aborted bool
	br      *bufio.Reader
	buf     bytes.Buffer
}

// newClient returns a client for the bookings of event at base, an
// http:// URL.
func newClient(base, event string, timeout time.Duration) (*client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("load: url %q: %w", base, err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("load: url %q: want http://host:port", base)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	path := strings.TrimRight(u.EscapedPath(), "/") + "/v1/events/" + url.PathEscape(event) + "/bookings"
	return &client{addr: addr, host: u.Host, path: path, timeout: timeout}, nil
}

// response is what one request got back.
type response struct {
	status   int
	body     []byte
	replayed bool
}

// post sends one booking request (a JSON body, an optional idempotency
// key) and reads the answer. A failed connection is dropped and the next
// request dials again; the failed request is not retried.
func (c *client) post(body []byte, key string) (response, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, c.timeout)
		if err != nil {
			return response{}, err
		}
		c.mu.Lock()
		c.conn, c.br = conn, bufio.NewReader(conn)
		if c.aborted {
			conn.SetDeadline(time.Now())
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	if !c.aborted {
		c.conn.SetDeadline(time.Now().Add(c.timeout))
	}
	c.mu.Unlock()
	c.buf.Reset()
	fmt.Fprintf(&c.buf, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", c.path, c.host, len(body))
	if key != "" {
		fmt.Fprintf(&c.buf, "Idempotency-Key: %s\r\n", key)
	}
	c.buf.WriteString("\r\n")
	c.buf.Write(body)
	if _, err := c.conn.Write(c.buf.Bytes()); err != nil {
		c.close()
		return response{}, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.close()
		return response{}, err
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		c.close()
		return response{}, err
	}
	if resp.Close {
		c.close()
	}
	return response{status: resp.StatusCode, body: raw, replayed: resp.Header.Get("Idempotent-Replayed") == "true"}, nil
}

// close drops the connection.
func (c *client) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.br = nil, nil
	}
}

// abort makes the request in flight, and any later one, fail at once.
func (c *client) abort() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.aborted = true
	if c.conn != nil {
		c.conn.SetDeadline(time.Now())
	}
}
