//go:build linux

package tcpconn

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// procMount describes the proc mount that proc_root is on.
type procMount struct {
	hidepid string // "", or the option's value: 1, 2, noaccess, invisible, ptraceable
	gid     int    // the gid= option, -1 if absent
}

// findProcMount returns the options of the proc mount whose mount point is
// dir, from the text of /proc/self/mountinfo (proc(5)). The last match
// wins, as the last mount over a point is the one seen.
func findProcMount(mountinfo []byte, dir string) (procMount, bool) {
	var found procMount
	ok := false
	for line := range bytes.Lines(mountinfo) {
		fields := strings.Fields(string(line))
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || len(fields) < sep+4 {
			continue
		}
		if fields[4] != dir || fields[sep+1] != "proc" {
			continue
		}
		m := procMount{gid: -1}
		for _, opt := range strings.Split(fields[sep+3], ",") {
			switch k, v, _ := strings.Cut(opt, "="); k {
			case "hidepid":
				m.hidepid = v
			case "gid":
				if g, err := strconv.Atoi(v); err == nil {
					m.gid = g
				}
			}
		}
		found, ok = m, true
	}
	return found, ok
}

// hidepidWarning says, when it applies, that proc_root hides other users'
// processes from this agent: they cannot even be counted as denied.
func hidepidWarning(procRoot string) string {
	if os.Geteuid() == 0 {
		return ""
	}
	dir, err := filepath.EvalSymlinks(procRoot)
	if err != nil {
		return ""
	}
	info, err := os.ReadFile(filepath.Join(procRoot, "self", "mountinfo"))
	if err != nil {
		return ""
	}
	m, ok := findProcMount(info, filepath.Clean(dir))
	if !ok || m.hidepid == "" || m.hidepid == "0" || m.hidepid == "off" {
		return ""
	}
	if m.gid >= 0 {
		groups, _ := os.Getgroups()
		if os.Getegid() == m.gid || slices.Contains(groups, m.gid) {
			return ""
		}
	}
	hint := "mount it with gid=<a group of this user>"
	if m.gid >= 0 {
		hint = "add this user to group " + strconv.Itoa(m.gid)
	}
	return "proc_root " + procRoot + " is mounted with hidepid=" + m.hidepid +
		": other users' processes are hidden from this agent and cannot be reported or counted; " +
		hint + ", and grant CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH"
}
