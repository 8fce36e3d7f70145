package ipc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/bookerhq/booker/ticket"
)

// wireCodes is every error a Result carries and its wire code, written
// out apart from the codes table: the codes are the protocol. also is
// the sentinel that err's errors wrap as well, if any.
var wireCodes = []struct {
	code string
	err  error
	also error
}{
	{"sold_out", ticket.ErrSoldOut, nil},
	{"seat_taken", ticket.ErrSeatTaken, nil},
	{"cancelled", ticket.ErrCancelled, nil},
	{"key_reused", ticket.ErrKeyReused, nil},
	{"event_not_found", ticket.ErrNoEvent, nil},
	{"invalid", ticket.ErrInvalid, nil},
	{"lock_timeout", ticket.ErrLockTimeout, nil},
	{"torn_read", ticket.ErrTornRead, ticket.ErrCorrupt},
	{"corrupt", ticket.ErrCorrupt, nil},
	{"expired", ErrExpired, nil},
	{"unavailable", ticket.ErrUnavailable, nil},
}

// TestCodesBothWays encodes each sentinel, wrapped, to its code and
// decodes the code back to an error with the same message that is that
// sentinel (and the one it wraps) and no other.
func TestCodesBothWays(t *testing.T) {
	if len(codes) != len(wireCodes) {
		t.Errorf("codes has %d entries, want %d", len(codes), len(wireCodes))
	}
	for _, w := range wireCodes {
		err := fmt.Errorf("event demo: %w", w.err)
		if w.also != nil {
			err = fmt.Errorf("event demo: %w: %w", w.err, w.also)
		}
		code, msg := encodeErr(err)
		if code != w.code || msg != err.Error() {
			t.Errorf("encodeErr(%v) = %q, %q; want %q, %q", err, code, msg, w.code, err.Error())
		}
		got := decodeErr(w.code, msg)
		if got == nil || got.Error() != msg {
			t.Errorf("decodeErr(%q) = %v, want an error reading %q", w.code, got, msg)
			continue
		}
		for _, o := range wireCodes {
			if is := errors.Is(got, o.err); is != (o.err == w.err || o.err == w.also) {
				t.Errorf("decodeErr(%q): errors.Is(%q's sentinel) = %v", w.code, o.code, is)
			}
		}
	}
}

// TestCodesNoSentinel covers a nil error, an error with no code of its
// own and a code this side does not know.
func TestCodesNoSentinel(t *testing.T) {
	if code, msg := encodeErr(nil); code != codeOK || msg != "" {
		t.Errorf("encodeErr(nil) = %q, %q; want %q, \"\"", code, msg, codeOK)
	}
	if err := decodeErr(codeOK, ""); err != nil {
		t.Errorf("decodeErr(ok) = %v, want nil", err)
	}
	other := errors.New("disk on fire")
	if code, msg := encodeErr(other); code != codeError || msg != "disk on fire" {
		t.Errorf("encodeErr(%v) = %q, %q; want %q", other, code, msg, codeError)
	}
	for _, code := range []string{codeError, "a_code_from_a_newer_seller"} {
		got := decodeErr(code, "disk on fire")
		if got == nil || got.Error() != "disk on fire" {
			t.Fatalf("decodeErr(%q) = %v, want an error reading the message", code, got)
		}
		for _, w := range wireCodes {
			if errors.Is(got, w.err) {
				t.Errorf("decodeErr(%q) is %q's sentinel", code, w.code)
			}
		}
	}
}

// TestCodesTornReadBeforeCorrupt: a torn read wraps both ErrTornRead and
// ErrCorrupt (as ticket's file store returns it); the table lists the
// more specific torn_read first, so that is its code, and it decodes to
// an error that is both again.
func TestCodesTornReadBeforeCorrupt(t *testing.T) {
	cause := fmt.Errorf("%w: unexpected end of JSON input", ticket.ErrCorrupt)
	err := fmt.Errorf("%s: %w: %w", "/data/demo.json", ticket.ErrTornRead, cause)
	if !errors.Is(err, ticket.ErrCorrupt) || !errors.Is(err, ticket.ErrTornRead) {
		t.Fatal("test error does not match both sentinels")
	}
	code, msg := encodeErr(err)
	if code != "torn_read" || msg != err.Error() {
		t.Fatalf("encodeErr(torn read) = %q, %q; want torn_read, %q", code, msg, err.Error())
	}
	got := decodeErr(code, msg)
	if !errors.Is(got, ticket.ErrTornRead) || !errors.Is(got, ticket.ErrCorrupt) {
		t.Errorf("decoded torn read %v: ErrTornRead %v, ErrCorrupt %v; want both",
			got, errors.Is(got, ticket.ErrTornRead), errors.Is(got, ticket.ErrCorrupt))
	}
}
