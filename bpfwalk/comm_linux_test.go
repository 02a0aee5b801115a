//go:build linux

package bpfwalk

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tcpconn/telegraf-tcpconn/resolver"
)

// FuzzName checks cleanName against the /proc walk itself: for a comm as
// the kernel holds it (at most 15 bytes, any but NUL, then NULs or
// leftovers after the first NUL), the /proc walk of a fixture whose comm
// file reads as comm_show writes it (the name and "\n") must give the same
// Name.
func FuzzName(f *testing.F) {
	for _, s := range []string{"", "nginx", "python3", "a b", "x)(y", "tab\tnew\nline", "\xff\xfe", "é", "\xc3", "ab\n", "\n", "123456789012345", "日本語のプロセス", "a\x00leftover"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// What the kernel holds: TASK_COMM_LEN (16) bytes, the name cut
		// to 15 and NUL-terminated; bytes after the NUL are garbage.
		var comm [16]byte
		copy(comm[:15], raw)
		name := comm[:bytes.IndexByte(comm[:], 0)]

		root := t.TempDir()
		dir := filepath.Join(root, "10")
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "fd"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "comm"), append(bytes.Clone(name), '\n'), 0o644))
		require.NoError(t, os.Symlink("socket:[5]", filepath.Join(dir, "fd", "3")))
		r, err := resolver.New(resolver.Options{ProcRoot: root})
		require.NoError(t, err)
		tab, err := r.Walk(context.Background())
		require.NoError(t, err)
		require.Len(t, tab.Procs, 1)
		require.Equal(t, tab.Procs[0].Name, cleanName(comm[:]), "comm %q", name)
	})
}
