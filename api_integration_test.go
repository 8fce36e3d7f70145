package booker_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestStrictInputChangesNothing sends malformed and out-of-bounds requests:
// each gets the documented 4xx with a JSON error body, and the ticket
// file is untouched.
func TestStrictInputChangesNothing(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--tickets", "10", "--sellers", "2")
	json_ := "application/json"
	cases := []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		status                          int
		code                            string
	}{
		{"unknown field", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","vip":true}`, nil, 400, "invalid_request"},
		{"trailing data", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a"} {"buyer":"b"}`, nil, 400, "invalid_request"},
		{"trailing garbage", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a"}x`, nil, 400, "invalid_request"},
		{"wrong type buyer", "POST", "/v1/events/demo/bookings", json_, `{"buyer":5}`, nil, 400, "invalid_request"},
		{"wrong type seat", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","seat":"3"}`, nil, 400, "invalid_request"},
		{"fractional seat", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","seat":1.5}`, nil, 400, "invalid_request"},
		{"seat zero", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","seat":0}`, nil, 400, "invalid_request"},
		{"seat negative", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","seat":-1}`, nil, 400, "invalid_request"},
		{"seat over capacity", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","seat":11}`, nil, 400, "invalid_request"},
		{"seat huge", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","seat":99999999999999999999}`, nil, 400, "invalid_request"},
		{"empty buyer", "POST", "/v1/events/demo/bookings", json_, `{"buyer":""}`, nil, 400, "invalid_request"},
		{"missing buyer", "POST", "/v1/events/demo/bookings", json_, `{"seat":1}`, nil, 400, "invalid_request"},
		{"buyer over 200 bytes", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"` + strings.Repeat("x", 201) + `"}`, nil, 400, "invalid_request"},
		{"empty body", "POST", "/v1/events/demo/bookings", json_, ``, nil, 400, "invalid_request"},
		{"not json", "POST", "/v1/events/demo/bookings", json_, `buyer=a`, nil, 400, "invalid_request"},
		{"body over 64KiB", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a","x":"` + strings.Repeat("y", 70<<10) + `"}`, nil, 413, "request_too_large"},
		{"form content type", "POST", "/v1/events/demo/bookings", "application/x-www-form-urlencoded", `{"buyer":"a"}`, nil, 415, "unsupported_media_type"},
		{"empty idempotency key", "POST", "/v1/events/demo/bookings", json_, `{"buyer":"a"}`, map[string]string{"Idempotency-Key": ""}, 400, "invalid_request"},
		{"path traversal event", "POST", "/v1/events/..%2f..%2fetc/bookings", json_, `{"buyer":"a"}`, nil, 400, "invalid_request"},
		{"unknown event", "POST", "/v1/events/nope/bookings", json_, `{"buyer":"a"}`, nil, 404, "event_not_found"},
		{"wrong method bookings", "PUT", "/v1/events/demo/bookings", json_, `{}`, nil, 405, "method_not_allowed"},
		{"wrong method event", "DELETE", "/v1/events/demo", "", ``, nil, 405, "method_not_allowed"},
		{"wrong method healthz", "POST", "/healthz", "", ``, nil, 405, "method_not_allowed"},
		{"unknown route", "GET", "/v2/nothing", "", ``, nil, 404, "not_found"},
		{"create: capacity zero", "POST", "/v1/events", json_, `{"id":"x","capacity":0}`, nil, 400, "invalid_request"},
		{"create: capacity negative", "POST", "/v1/events", json_, `{"id":"x","capacity":-5}`, nil, 400, "invalid_request"},
		{"create: capacity huge", "POST", "/v1/events", json_, `{"id":"x","capacity":10000001}`, nil, 400, "invalid_request"},
		{"create: capacity string", "POST", "/v1/events", json_, `{"id":"x","capacity":"10"}`, nil, 400, "invalid_request"},
		{"create: traversal id", "POST", "/v1/events", json_, `{"id":"../x","capacity":10}`, nil, 400, "invalid_request"},
		{"create: upper-case id", "POST", "/v1/events", json_, `{"id":"X","capacity":10}`, nil, 400, "invalid_request"},
		{"create: missing capacity", "POST", "/v1/events", json_, `{"id":"x"}`, nil, 400, "invalid_request"},
		{"create: exists", "POST", "/v1/events", json_, `{"id":"demo","capacity":10}`, nil, 409, "event_exists"},
		{"unknown booking", "GET", "/v1/events/demo/bookings/b-nope", "", ``, nil, 404, "booking_not_found"},
		{"cancel unknown booking", "DELETE", "/v1/events/demo/bookings/b-nope", "", ``, nil, 404, "booking_not_found"},
		{"unknown event get", "GET", "/v1/events/nope", "", ``, nil, 404, "event_not_found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, b.url+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			for k, v := range c.header {
				req.Header[k] = []string{v}
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var body struct{ Error, Message string }
			if err := json.Unmarshal(raw, &body); err != nil {
				t.Fatalf("error body is not JSON: %q", raw)
			}
			if resp.StatusCode != c.status || body.Error != c.code || body.Message == "" {
				t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, body.Error, body.Message, c.status, c.code)
			}
		})
	}
	e := readEvent(t, dir, "demo")
	if e.Revision != 0 || e.Sold() != 0 {
		t.Fatalf("bad requests changed the ticket file: revision %d, sold %d", e.Revision, e.Sold())
	}
	ids, _ := filepathGlob(dir, "*.json")
	if len(ids) != 1 {
		t.Fatalf("files created by bad requests: %v", ids)
	}

	// The happy path of the same routes still works, and cancel frees the seat.
	a := b.book("demo", "ann", 10, "")
	if a.status != 201 || a.seat != 10 {
		t.Fatalf("book seat 10: %+v", a)
	}
	if again := b.book("demo", "bob", 10, ""); again.status != 409 || again.code != "seat_taken" {
		t.Fatalf("seat taken: %+v", again)
	}
	req, _ := http.NewRequest("DELETE", b.url+"/v1/events/demo/bookings/"+a.id, nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("cancel: %v %v", resp, err)
	}
	resp.Body.Close()
	if again := b.book("demo", "bob", 10, ""); again.status != 201 {
		t.Fatalf("rebook cancelled seat: %+v", again)
	}
	b.stop()
}
