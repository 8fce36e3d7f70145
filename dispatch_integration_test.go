package booker_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestEventDispatch: with --dispatch event every event's bookings come
// from one seller, different events use different sellers, and when an
// event's seller is killed under load its requests go to another seller:
// every request is answered 201 and the file holds every confirmation.
func TestEventDispatch(t *testing.T) {
	dir := t.TempDir()
	b := startBooker(t, binDir, dir, nil, "--dispatch", "event", "--max-restarts", "100", "--fsync=false")
	const events = 8
	for i := 0; i < events; i++ {
		resp, err := http.Post(b.url+"/v1/events", "application/json", strings.NewReader(fmt.Sprintf(`{"id":"ev%d","capacity":5000}`, i)))
		if err != nil || resp.StatusCode != 201 {
			t.Fatalf("create ev%d: %v %v", i, err, resp)
		}
		resp.Body.Close()
	}
	home := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < events; i++ {
		ev := fmt.Sprintf("ev%d", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			sellers := map[int]bool{}
			for _, a := range b.load(ev, 40, 8) {
				if a.status != 201 {
					t.Errorf("%s: %+v", ev, a)
					return
				}
				sellers[a.seller] = true
			}
			if len(sellers) != 1 {
				t.Errorf("%s booked by sellers %v, want one", ev, sellers)
			}
			mu.Lock()
			defer mu.Unlock()
			for s := range sellers {
				home[ev] = s
			}
		}()
	}
	wg.Wait()
	used := map[int]bool{}
	for _, s := range home {
		used[s] = true
	}
	t.Logf("homes of %d events: %v (%d sellers used)", events, home, len(used))
	if len(used) < 2 {
		t.Fatalf("%d events all on one seller: %v", events, home)
	}

	// Kill ev0's seller while ev0 is under load.
	var pid int
	for _, s := range b.sellers() {
		if s.Slot == home["ev0"] {
			pid = s.PID
		}
	}
	done := make(chan []answer)
	go func() { done <- b.load("ev0", 3000, 16) }()
	time.Sleep(100 * time.Millisecond)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill ev0's seller %d: %v", pid, err)
	}
	answers := <-done
	bySeller := map[int]int{}
	for _, a := range answers {
		if a.status != 201 {
			t.Fatalf("after killing ev0's seller: %+v", a)
		}
		bySeller[a.seller]++
	}
	v := judge(answers, readEvent(t, dir, "ev0"))
	t.Logf("ev0 after killing its seller (slot %d, pid %d): bookings by slot %v, %+v", home["ev0"], pid, bySeller, v)
	if len(bySeller) < 2 {
		t.Fatalf("all of ev0's bookings from slot(s) %v: none moved to another seller", bySeller)
	}
	if v.lost != 0 || v.doubleSeats != 0 || v.inFile != 40+3000 {
		t.Fatalf("lost %d, double %d, in file %d (want 3040)", v.lost, v.doubleSeats, v.inFile)
	}
	if err := b.stop(); err != nil {
		t.Fatalf("booker exit: %v", err)
	}
}
