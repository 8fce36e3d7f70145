// Package e2e_test holds the end-to-end tests beyond integration_test.go
// at the repository root: the same harness, grouped by concern.
package e2e_test

import (
	"os"
	"testing"

	"github.com/bookerhq/booker/internal/harness"
)

// TestMain builds booker and seller once for every test (harness.Main).
func TestMain(m *testing.M) { os.Exit(harness.Main(m)) }
