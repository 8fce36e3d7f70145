package main

import (
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bookerhq/booker/supervisor"
)

// TestParseServeRefuses: booker refuses flags that do not go together,
// before it touches anything.
func TestParseServeRefuses(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"extra"}, "unexpected argument"},
		{[]string{"--sellers", "0"}, "at least 1"},
		{[]string{"--mode", "fast"}, "fast"},
		{[]string{"--dispatch", "random"}, "want shared or event"},
		{[]string{"--store", "mysql://h/db"}, "want file or a postgres:// DSN"},
		{[]string{"--lock", "row"}, "want event or seat"},
		{[]string{"--lock", "seat"}, "needs --store postgres"},
		{[]string{"--store", "postgres://h/db", "--mode", "race", "--torn-writes"}, "lesson of the file store"},
		{[]string{"--torn-writes"}, "needs --mode race"},
		{[]string{"--race-window", "2ms"}, "needs --mode race"},
		{[]string{"--mode", "race", "--race-window", "-1ms"}, "needs --mode race"},
	} {
		_, err := parseServe(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// TestParseServeDefaults: --dispatch auto is event in locked mode and
// shared in race mode; the socket defaults into the data dir.
func TestParseServeDefaults(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want supervisor.Dispatch
	}{
		{[]string{"--data-dir", "/d"}, supervisor.DispatchEvent},
		{[]string{"--data-dir", "/d", "--mode", "race"}, supervisor.DispatchShared},
		{[]string{"--data-dir", "/d", "--mode", "race", "--dispatch", "event"}, supervisor.DispatchEvent},
	} {
		c, err := parseServe(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if c.Dispatch != tc.want || c.Socket != filepath.Join("/d", "booker.sock") {
			t.Errorf("%v: dispatch %s, socket %s; want %s, /d/booker.sock", tc.args, c.Dispatch, c.Socket, tc.want)
		}
	}
}
