package harness

import "os/exec"

// chromiumNames are the names a Chromium (or Chrome) executable goes by
// on PATH, in the order they are looked up.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// Chromium returns the path of the Chromium the browser tests drive, or
// "" when none is installed (apt-get install chromium, as .ci/run does):
// the callers skip or leave out what needs it.
func Chromium() string {
	for _, name := range chromiumNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}
