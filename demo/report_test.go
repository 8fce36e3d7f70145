package demo

import (
	"bytes"
	"context"
	"flag"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bookerhq/booker/internal/harness"
)

var screenshot = flag.String("screenshot", "", "also write the report's screenshot here (e.g. ../docs/report.png)")

// TestReportInBrowser renders the report of a real run (testdata/run:
// `booker demo --dir` with the default workload), checks what it says,
// and takes a screenshot with headless Chromium to check that it draws
// both timelines. -screenshot keeps the screenshot (docs/report.png is
// made so).
func TestReportInBrowser(t *testing.T) {
	cfg, rows, hist, err := LoadRun("testdata/run")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteReport(&buf, cfg, rows, Tell(rows, hist)); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	checkPage(t, html, rows)
	if strings.Count(html, "http://") != strings.Count(html, `xmlns="http://www.w3.org/2000/svg"`) || strings.Contains(html, "https://") {
		t.Error("the report refers to the network")
	}
	browser := harness.Chromium()
	if browser == "" {
		harness.Missing(t, "chromium (apt-get install chromium)")
		t.SkipNow()
	}
	report := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(report, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	runBrowser(t, browser, "--window-size=1200,5000", "--screenshot="+shot, "file://"+report)
	img := trimPNG(t, shot)
	if b := img.Bounds(); b.Dy() < 1200 || b.Dy() > 4900 {
		t.Fatalf("screenshot is %d pixels high: the page did not render whole", b.Dy())
	}
	if red, blue := colours(img); red < 5000 || blue < 2000 {
		t.Fatalf("screenshot has %d red and %d blue pixels: the race and locked bars are not drawn", red, blue)
	}
	if *screenshot == "" {
		return
	}
	f, err := os.Create(*screenshot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", *screenshot)
}

// colours counts the reddish (race-mode bars) and bluish (locked-mode
// bars) pixels of an image.
func colours(img image.Image) (red, blue int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			switch {
			case r > g+60 && r > bl+60:
				red++
			case bl > r+60 && bl > g+30:
				blue++
			}
		}
	}
	return red, blue
}

// checkPage checks the page: the summary and the table say what
// the rows measured, in plain words; both modes have lanes and bars on
// the overview and the zoom; the stories are there and their bars are
// outlined.
func checkPage(t *testing.T, html string, rows []Row) {
	t.Helper()
	for _, s := range Summary(rows) {
		if !strings.Contains(html, s) {
			t.Errorf("summary %q not on the page", s)
		}
	}
	for _, want := range []string{
		"more tickets confirmed than exist", "linearizable", // explained once
		`<g class="timeline" data-mode="race">`, `<g class="timeline" data-mode="locked">`,
		`data-story="A"`, `data-story="L1"`, "saw seat", "rewrote the whole ticket file",
		"milliseconds since the run's first request",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, jargon := range []string{"Illegal", "count Ok", "cs_start"} {
		if strings.Contains(html, jargon) {
			t.Errorf("page shows jargon %q", jargon)
		}
	}
	if n := strings.Count(html, `class="lane"`); n != 16 {
		t.Errorf("%d lanes drawn, want 4 sellers x 2 modes x 2 charts", n)
	}
	if n := strings.Count(html, `<g class="timeline"`); n != 4 {
		t.Errorf("%d timelines drawn, want the overview and the zoom of 2 modes", n)
	}
	for _, mode := range []string{"race", "locked"} {
		if !strings.Contains(html, `class="cs cs-`+mode+` wrote`) {
			t.Errorf("no %s-mode bar that wrote", mode)
		}
	}
	if !strings.Contains(html, ` story story-0"`) || !strings.Contains(html, ` story story-3"`) {
		t.Error("the bars of stories A and L1 are not outlined")
	}
	if !strings.Contains(html, "<title>seller ") || !strings.Contains(html, " for buyer-") {
		t.Error("bars have no tooltips naming seats and buyers")
	}
}

// runBrowser runs headless Chromium on its own profile, without network
// services, and returns its output.
func runBrowser(t *testing.T, browser string, args ...string) []byte {
	t.Helper()
	flags := []string{"--user-data-dir=" + t.TempDir()}
	for _, f := range harness.ChromiumFlags {
		flags = append(flags, "--"+f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, browser, append(flags, args...)...).Output()
	if err != nil {
		t.Fatalf("%s %s: %v", browser, strings.Join(args, " "), err)
	}
	return out
}

// trimPNG reads a screenshot and cuts the blank space below the page.
func trimPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	last := b.Min.Y
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			if r, g, bl, _ := img.At(x, y).RGBA(); r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				last = y
				break
			}
		}
	}
	sub, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	})
	if !ok {
		return img
	}
	return sub.SubImage(image.Rect(b.Min.X, b.Min.Y, b.Max.X, min(last+24, b.Max.Y)))
}
