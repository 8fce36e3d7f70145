package booker_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bookerhq/booker/ticket"
)

// binDir holds booker and seller, built once by TestMain; soloDir holds a
// booker with no seller beside it (it re-executes itself as the seller).
var binDir, soloDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "booker-bin-")
	if err != nil {
		panic(err)
	}
	binDir, soloDir = filepath.Join(dir, "bin"), filepath.Join(dir, "solo")
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	for _, b := range []struct{ out, pkg string }{
		{binDir + "/", "./cmd/booker"}, {binDir + "/", "./cmd/seller"}, {soloDir + "/", "./cmd/booker"},
	} {
		cmd := exec.Command("go", append(args, "-o", b.out, b.pkg)...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build:", err)
			os.Exit(2)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// booker is one running booker process.
type booker struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	dataDir string
	log     *syncBuffer
	exited  chan struct{}
	exitErr error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startBooker runs the built booker on dataDir and a free port with extra
// flags, and waits until every seller is ready.
func startBooker(t *testing.T, bin, dataDir string, env []string, flags ...string) *booker {
	t.Helper()
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}, flags...)
	cmd := exec.Command(filepath.Join(bin, "booker"), args...)
	cmd.Env = append(os.Environ(), env...)
	b := &booker{t: t, cmd: cmd, dataDir: dataDir, log: &syncBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = b.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		b.exitErr = cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-b.exited
		if t.Failed() {
			t.Logf("booker log:\n%s", tail(b.log.String(), 60))
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("booker did not start: %v\n%s", err, b.log.String())
	}
	b.url = strings.TrimSpace(strings.TrimPrefix(line, "booker listening on "))
	go io.Copy(io.Discard, out)
	b.waitReady(15 * time.Second)
	return b
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (b *booker) waitReady(d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		resp, err := http.Get(b.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("booker not ready after %v", d)
}

// stop sends SIGTERM and returns booker's exit error.
func (b *booker) stop() error {
	b.t.Helper()
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.exited:
		return b.exitErr
	case <-time.After(20 * time.Second):
		b.t.Fatal("booker did not exit 20s after SIGTERM")
		return nil
	}
}

type sellerInfo struct {
	Slot     int    `json:"slot"`
	PID      int    `json:"pid"`
	State    string `json:"state"`
	Restarts int    `json:"restarts"`
}

func (b *booker) sellers() []sellerInfo {
	b.t.Helper()
	var s []sellerInfo
	b.getJSON("/v1/sellers", &s)
	return s
}

func (b *booker) getJSON(path string, v any) int {
	b.t.Helper()
	resp, err := http.Get(b.url + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode
}

// answer is what one client was told.
type answer struct {
	status  int
	code    string
	id      string
	seat    int
	replay  bool
	seller  int
	failure string
	message string
}

var client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 128}}

func (b *booker) book(event, buyer string, seat int, key string) answer {
	body := map[string]any{"buyer": buyer}
	if seat > 0 {
		body["seat"] = seat
	}
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", b.url+"/v1/events/"+event+"/bookings", bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{failure: err.Error()}
	}
	defer resp.Body.Close()
	var out struct {
		ID      string `json:"id"`
		Seat    int    `json:"seat"`
		Seller  int    `json:"seller"`
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	json.NewDecoder(resp.Body).Decode(&out)
	return answer{status: resp.StatusCode, code: out.Error, id: out.ID, seat: out.Seat, seller: out.Seller,
		replay: resp.Header.Get("Idempotent-Replayed") == "true", message: out.Message}
}

// load sends n bookings from c concurrent clients and returns the answers.
func (b *booker) load(event string, n, c int) []answer {
	out := make([]answer, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = b.book(event, fmt.Sprintf("buyer-%d", i), 0, "")
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func readEvent(t *testing.T, dataDir, event string) *ticket.Event {
	t.Helper()
	e, err := ticket.ReadEvent(dataDir, event)
	if err != nil {
		t.Fatalf("ticket file after the run: %v", err)
	}
	return e
}

// verdict holds answers against the ticket file.
type verdict struct {
	confirmed, inFile, lost, doubleSeats, oversold int
	byStatus                                       map[int]int
}

func judge(answers []answer, e *ticket.Event) verdict {
	v := verdict{inFile: e.Sold(), byStatus: map[int]int{}}
	inFile := map[string]int{}
	for _, b := range e.Bookings {
		inFile[b.ID] = b.Seat
	}
	seats := map[int]int{}
	for _, a := range answers {
		v.byStatus[a.status]++
		if a.status != 201 {
			continue
		}
		v.confirmed++
		seats[a.seat]++
		if s, ok := inFile[a.id]; !ok || s != a.seat {
			v.lost++
		}
	}
	for _, n := range seats {
		if n > 1 {
			v.doubleSeats++
		}
	}
	v.oversold = max(0, v.confirmed-e.Capacity)
	return v
}

// TestLockedSellsOutExactly sells out an event under both dispatch
// policies: with "shared" the four sellers contend for the event's lock,
// with "event" one seller takes all of the event's requests.
func TestLockedSellsOutExactly(t *testing.T) {
	for _, dispatch := range []string{"shared", "event"} {
		t.Run(dispatch, func(t *testing.T) {
			dir := t.TempDir()
			b := startBooker(t, binDir, dir, nil, "--tickets", "60", "--dispatch", dispatch)
			answers := b.load("demo", 300, 32)
			v := judge(answers, readEvent(t, dir, "demo"))
			t.Logf("locked: %+v", v)
			if v.confirmed != 60 || v.inFile != 60 || v.lost != 0 || v.doubleSeats != 0 {
				t.Fatalf("locked mode: confirmed %d, in file %d, lost %d, double %d; want 60, 60, 0, 0", v.confirmed, v.inFile, v.lost, v.doubleSeats)
			}
			if v.byStatus[409] != 240 {
				t.Fatalf("want 240 sold_out answers, got %v", v.byStatus)
			}
			sellers := map[int]int{}
			for _, a := range answers {
				if a.status == 201 {
					sellers[a.seller]++
				}
			}
			switch {
			case dispatch == "shared" && len(sellers) < 2:
				t.Fatalf("shared dispatch: every booking from one seller %v; the test shows no contention", sellers)
			case dispatch == "event" && len(sellers) != 1:
				t.Fatalf("event dispatch: bookings of one event from sellers %v, want one", sellers)
			}
			var audit map[string]int
			b.getJSON("/v1/events/demo/audit", &audit)
			if audit["confirmed"] != 60 || audit["in_file"] != 60 || audit["lost"] != 0 || audit["oversold"] != 0 {
				t.Fatalf("audit %v", audit)
			}
			if err := b.stop(); err != nil {
				t.Fatalf("booker exit: %v", err)
			}
		})
	}
}

func TestRaceModeOversells(t *testing.T) {
	for round := 1; round <= 3; round++ {
		dir := t.TempDir()
		b := startBooker(t, binDir, dir, nil, "--tickets", "30", "--mode", "race", "--race-window", "3ms", "--fsync=false")
		answers := b.load("demo", 200, 32)
		v := judge(answers, readEvent(t, dir, "demo"))
		var audit map[string]int
		b.getJSON("/v1/events/demo/audit", &audit)
		t.Logf("race round %d: %+v audit %v", round, v, audit)
		if audit["confirmed"] != v.confirmed || audit["lost"] != v.lost || audit["double_booked_seats"] != v.doubleSeats || audit["oversold"] != v.oversold {
			t.Fatalf("audit %v disagrees with what clients were told %+v", audit, v)
		}
		b.stop()
		if v.oversold > 0 && v.doubleSeats > 0 {
			return
		}
	}
	t.Fatal("race mode never oversold and double-booked in 3 rounds")
}

func TestKillSellersUnderLoadLosesNothing(t *testing.T) {
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := 1; round <= rounds; round++ {
		dispatch := []string{"event", "shared"}[(round+1)%2]
		t.Run(fmt.Sprintf("round%d-%s", round, dispatch), func(t *testing.T) { killSellersRound(t, dispatch) })
	}
}

func killSellersRound(t *testing.T, dispatch string) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--tickets", "500", "--max-restarts", "1000", "--fsync=false", "--dispatch", dispatch)
	done := make(chan struct{})
	kills := 0
	go func() {
		defer close(done)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; i < 12; i++ {
			time.Sleep(120 * time.Millisecond)
			ss := b.sellers()
			s := ss[rng.IntN(len(ss))]
			if s.PID > 0 && syscall.Kill(s.PID, syscall.SIGKILL) == nil {
				kills++
			}
		}
	}()
	answers := b.load("demo", 800, 24)
	<-done
	e := readEvent(t, dir, "demo")
	v := judge(answers, e)
	t.Logf("kill -9 x%d under load: %+v", kills, v)
	if v.lost != 0 || v.doubleSeats != 0 || v.confirmed > 500 || v.inFile > 500 {
		t.Fatalf("lost %d, double-booked %d, confirmed %d, in file %d", v.lost, v.doubleSeats, v.confirmed, v.inFile)
	}
	if v.byStatus[0] != 0 {
		t.Fatalf("transport failures: %v", v.byStatus)
	}
	if kills == 0 {
		t.Fatal("no seller was killed")
	}
	b.waitRestarts(1, 15*time.Second)
	b.waitReady(15 * time.Second)
	// Requests answered with something other than 201 or 409 must not
	// have taken a seat under an id a client was told about: checked by
	// lost == 0 above. And every seat in the file is unique (Decode).
	if err := b.stop(); err != nil {
		t.Fatalf("booker exit: %v", err)
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func TestSIGTERMLeavesNoSeller(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "3")
	var pids []int
	for _, s := range b.sellers() {
		pids = append(pids, s.PID)
	}
	if len(pids) != 3 {
		t.Fatalf("sellers %v", pids)
	}
	if err := b.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want 0", err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("seller %d outlived booker", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "booker.sock")); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
}

func TestRestartKeepsBookingsAndStaleSocket(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--tickets", "50")
	answers := b.load("demo", 20, 4)
	var pids []int
	for _, s := range b.sellers() {
		pids = append(pids, s.PID)
	}
	// kill -9 booker: sellers die with it (Pdeathsig), the socket file
	// stays behind.
	b.cmd.Process.Kill()
	<-b.exited
	deadline := time.Now().Add(5 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("seller %d orphaned after kill -9 of booker", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "booker.sock")); err != nil {
		t.Fatalf("expected a stale socket: %v", err)
	}
	b2 := startBooker(t, binDir, dir, nil, "--tickets", "50")
	var ev struct{ Sold int }
	b2.getJSON("/v1/events/demo", &ev)
	if ev.Sold != 20 {
		t.Fatalf("after restart sold %d, want 20", ev.Sold)
	}
	for _, a := range answers {
		var got struct{ Seat int }
		if code := b2.getJSON("/v1/events/demo/bookings/"+a.id, &got); code != 200 || got.Seat != a.seat {
			t.Fatalf("booking %s after restart: %d seat %d, want seat %d", a.id, code, got.Seat, a.seat)
		}
	}
	if err := b2.stop(); err != nil {
		t.Fatal(err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "2")
	first := b.book("demo", "ann", 0, "order-1")
	again := b.book("demo", "ann", 0, "order-1")
	if first.status != 201 || again.status != 201 || again.id != first.id || again.seat != first.seat || !again.replay || first.replay {
		t.Fatalf("replay: first %+v again %+v", first, again)
	}
	other := b.book("demo", "bob", 0, "order-1")
	if other.status != 422 {
		t.Fatalf("same key, other body: %+v, want 422", other)
	}
	if e := readEvent(t, dir, "demo"); e.Sold() != 1 {
		t.Fatalf("sold %d, want 1", e.Sold())
	}
	// The key outlives its booking: a retry after the cancel is refused,
	// not booked again (issue 14, defect 4).
	req, _ := http.NewRequest("DELETE", b.url+"/v1/events/demo/bookings/"+first.id, nil)
	resp, err := client.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("cancel: %v %v", resp, err)
	}
	resp.Body.Close()
	late := b.book("demo", "ann", 0, "order-1")
	if late.status != 410 || late.code != "booking_cancelled" {
		t.Fatalf("retry after cancel: %+v, want 410 booking_cancelled", late)
	}
	if e := readEvent(t, dir, "demo"); e.Sold() != 0 {
		t.Fatalf("sold %d after the cancel and its retry, want 0", e.Sold())
	}
	b.stop()
}

func TestSelfReexecSeller(t *testing.T) {
	// A booker without a seller binary beside it (as under `go run`)
	// runs itself in the seller role.
	dir := t.TempDir()
	b := startBooker(t, soloDir, dir, nil, "--sellers", "2")
	if a := b.book("demo", "x", 0, ""); a.status != 201 {
		t.Fatalf("booking through self-exec sellers: %+v", a)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
}

// waitRestarts waits until the sellers' restarts add up to at least n.
func (b *booker) waitRestarts(n int, d time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		total := 0
		for _, s := range b.sellers() {
			total += s.Restarts
		}
		if total >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("fewer than %d seller restarts after %v", n, d)
}

func killPID(pid int) {
	if pid > 0 {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func filepathGlob(dir, pattern string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, pattern))
}

func newDelete(url string) (*http.Request, error) { return http.NewRequest("DELETE", url, nil) }

// TestInspectCountsWhatWasSold: `booker inspect` is README's way to count
// what was sold from the files (snapshot and journal), and agrees with
// the API and the store after cancels and re-bookings.
func TestInspectCountsWhatWasSold(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--sellers", "2")
	var ids []string
	for i := 0; i < 4; i++ {
		a := b.book("demo", fmt.Sprintf("buyer-%d", i), 0, fmt.Sprintf("key-%d", i))
		if a.status != 201 {
			t.Fatalf("book: %+v", a)
		}
		ids = append(ids, a.id)
	}
	for _, id := range ids[:2] {
		req, _ := http.NewRequest("DELETE", b.url+"/v1/events/demo/bookings/"+id, nil)
		resp, err := client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("cancel %s: %v %v", id, resp, err)
		}
		resp.Body.Close()
	}
	if a := b.book("demo", "late", 0, ""); a.status != 201 {
		t.Fatalf("book: %+v", a)
	}
	var ev struct{ Sold int }
	b.getJSON("/v1/events/demo", &ev)
	out, err := exec.Command(filepath.Join(binDir, "booker"), "inspect", "--data-dir", dir, "demo").Output()
	if err != nil {
		t.Fatalf("booker inspect: %v", err)
	}
	var got []struct {
		ID        string
		Sold      int
		Cancelled int
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got) != 1 {
		t.Fatalf("inspect output %s: %v", out, err)
	}
	e := readEvent(t, dir, "demo")
	if ev.Sold != 3 || got[0].Sold != 3 || e.Sold() != 3 || got[0].Cancelled != 2 {
		t.Fatalf("sold: API %d, inspect %+v, store %d; want 3 (2 cancelled)", ev.Sold, got[0], e.Sold())
	}
	b.stop()
}
