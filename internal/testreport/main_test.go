package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReport runs the real go test -json on a package whose tests pass,
// skip and fail, and reads its report.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600))
	}
	write("go.mod", "module example.com/demo\n\ngo 1.22\n")
	write("demo_test.go", `package demo

import "testing"

func TestPass(t *testing.T) {}

func TestSkip(t *testing.T) { t.Skip("no such server here") }

func TestFail(t *testing.T) {
	t.Run("inner", func(t *testing.T) { t.Log("what the inner saw"); t.Fail() })
	t.Run("fine", func(t *testing.T) {})
}
`)
	cmd := exec.Command("go", "test", "-json", "-count=1", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	require.Error(t, err, "the package fails")

	var w bytes.Buffer
	failed, err := report(bytes.NewReader(out), &w)
	require.NoError(t, err)
	require.True(t, failed)
	got := w.String()
	require.Contains(t, got, "--- FAIL: TestFail/inner")
	require.Contains(t, got, "what the inner saw")
	require.Contains(t, got, "FAIL\texample.com/demo\t")
	require.NotContains(t, got, "TestPass", "a passing test is only counted")
	require.Contains(t, got, "2 tests passed, 1 skipped\n  skipped in example.com/demo: TestSkip: demo_test.go:7: no such server here\n")
}

func TestReportPasses(t *testing.T) {
	in := `{"Action":"start","Package":"p"}
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":0}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.01s\n"}
{"Action":"pass","Package":"p","Elapsed":0.01}
`
	var w bytes.Buffer
	failed, err := report(bytes.NewBufferString(in), &w)
	require.NoError(t, err)
	require.False(t, failed)
	require.Equal(t, "ok  \tp\t0.010s\t(1 passed)\n1 tests passed, 0 skipped\n", w.String())
}
