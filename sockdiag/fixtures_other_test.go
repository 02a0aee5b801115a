//go:build !linux

package sockdiag

import "testing"

func captureFixtures(t *testing.T) {
	t.Fatal("captures need Linux")
}
