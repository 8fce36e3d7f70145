package harness

import (
	"os"
	"os/exec"
	"testing"
)

// chromiumNames are the names a Chromium (or Chrome) executable goes by
// on PATH, in the order they are looked up.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// Chromium returns the path of the Chromium the browser tests drive, or
// "" when none is installed (apt-get install chromium, as .ci/run does):
// the callers leave out what needs it, after Missing.
func Chromium() string {
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// ChromiumFlags are the switches (without their "--") every browser test
// starts Chromium with: headless (no scrollbars in screenshots), without
// the sandbox (CI runs as root), and nothing fetched or updated in the
// background.
var ChromiumFlags = []string{"headless", "hide-scrollbars", "mute-audio", "no-sandbox", "disable-gpu", "disable-quic", "no-first-run",
	"disable-background-networking", "disable-component-update", "disable-sync", "disable-dev-shm-usage"}

// Missing reports that a tool a test checks with (Chromium, promtool) is
// not installed, what names how to install it. Under CI (CI set), where
// .ci/run installs every such tool, the test fails: a check left out
// there would pass unseen. Elsewhere it logs it, and the caller leaves
// out the part that needs the tool.
func Missing(t testing.TB, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed, and CI must run every check", what)
	}
	t.Logf("%s is not installed: the checks that need it are left out", what)
}
