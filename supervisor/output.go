package supervisor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync/atomic"
	"time"
)

// lineLogger turns a seller's output into records of booker's log. booker
// starts its sellers with --log-format json: each line is one record,
// which is logged again, as a record of its own (its time, level, message
// and attributes), through booker's handler, so it reads the same in
// booker's text or json log, with the seller's slot and pid added. A line
// that is not such a record (a panic, the runtime's output) is logged as
// is, at level WARN.
type lineLogger struct {
	log  *slog.Logger
	slot int
	pid  atomic.Int64
	buf  []byte
}

func (l *lineLogger) setPID(pid int) { l.pid.Store(int64(pid)) }

// Write implements io.Writer; exec.Cmd calls it from one goroutine.
func (l *lineLogger) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.line(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 64<<10 { // a line without end: log it in pieces
		l.line(l.buf)
		l.buf = l.buf[:0]
	}
	return len(p), nil
}

// line logs one line of output.
func (l *lineLogger) line(line []byte) {
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	rec, ok := parseRecord(line)
	if !ok {
		rec = slog.NewRecord(time.Now(), slog.LevelWarn, "seller output: "+string(line), 0)
	}
	rec.AddAttrs(slog.Int64("pid", l.pid.Load()))
	if !hasAttr(rec, "slot") {
		rec.AddAttrs(slog.Int("slot", l.slot))
	}
	ctx := context.Background()
	if h := l.log.Handler(); h.Enabled(ctx, rec.Level) {
		h.Handle(ctx, rec)
	}
}

// parseRecord reads a record of slog's JSON handler.
func parseRecord(line []byte) (slog.Record, bool) {
	var fields map[string]any
	if !bytes.HasPrefix(line, []byte("{")) || json.Unmarshal(line, &fields) != nil {
		return slog.Record{}, false
	}
	t, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(fields[slog.TimeKey]))
	var level slog.Level
	if s, ok := fields[slog.LevelKey].(string); !ok || level.UnmarshalText([]byte(s)) != nil {
		return slog.Record{}, false
	}
	msg, ok := fields[slog.MessageKey].(string)
	if !ok {
		return slog.Record{}, false
	}
	rec := slog.NewRecord(t, level, msg, 0)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		switch k {
		case slog.TimeKey, slog.LevelKey, slog.MessageKey:
		default:
			keys = append(keys, k)
		}
	}
	sort.Strings(keys) // JSON objects have no order; a stable one reads best
	for _, k := range keys {
		rec.AddAttrs(slog.Any(k, fields[k]))
	}
	return rec, true
}

func hasAttr(rec slog.Record, key string) bool {
	found := false
	rec.Attrs(func(a slog.Attr) bool {
		found = a.Key == key
		return !found
	})
	return found
}

var _ io.Writer = (*lineLogger)(nil)
