package live_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// TestMain builds booker and seller once for the browser tests.
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }

// booker is one running booker process (internal/harness) with the
// browser tests' helpers.
type booker struct{ *harness.Booker }

// startBooker runs the real booker (harness.Start) on a fresh data dir
// with extra flags, and waits until every seller is ready.
func startBooker(t *testing.T, flags ...string) *booker {
	t.Helper()
	return &booker{harness.Start(t, harness.BinDir(t), t.TempDir(), nil, flags...)}
}

// do sends a request with a JSON body (if any) and decodes a JSON answer
// into a map.
func (b *booker) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, b.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := harness.Client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// number reads a JSON number field of a GET answer.
func (b *booker) number(t *testing.T, path, field string) int {
	t.Helper()
	code, m := b.do(t, "GET", path, nil)
	v, ok := m[field].(float64)
	if code != 200 || !ok {
		t.Fatalf("GET %s: %d %v", path, code, m)
	}
	return int(v)
}

// chromium returns the Chromium executable (harness.Chromium), or skips
// the test.
func chromium(t *testing.T) string {
	t.Helper()
	p := harness.Chromium()
	if p == "" {
		harness.Missing(t, "chromium (apt-get install chromium)")
		t.SkipNow()
	}
	return p
}

// browser starts a headless Chromium with a fresh profile, on a closed
// network, and returns a tab's context. Uncaught JavaScript exceptions
// of the page fail the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	for _, f := range harness.ChromiumFlags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var errs []string
	go func() {
		for ev, err := range chromedp.Events(ctx, runtime.ExceptionThrown) {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description
			}
			mu.Lock()
			errs = append(errs, fmt.Sprintf("%s (line %d)", msg, d.LineNumber+1))
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("page threw: %s", e)
		}
	})
	return ctx
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitFor polls a JavaScript predicate in the page until it holds.
func waitFor(t *testing.T, ctx context.Context, what, predicate string, d time.Duration) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](predicate,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(d))); err != nil {
		t.Fatalf("the page did not show %s within %v: %v\n(waited for %s)", what, d, err, predicate)
	}
}

// screenshot saves a PNG of the whole page in the test's artifact
// directory and returns the PNG.
func screenshot(t *testing.T, ctx context.Context, name string) []byte {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
	return png
}
