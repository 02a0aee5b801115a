package resolver

// Options configure a Resolver.
type Options struct {
	// ProcRoot is the proc file system to walk, such as "/proc" or a fixture
	// directory laid out like it. Required.
	ProcRoot string

	// Match, when non-nil, is called with the process name (comm) before any
	// descriptor of the process is read. When it returns false the process
	// is skipped and counted in Stats.Skipped. It may be called from several
	// goroutines at once.
	Match func(name string) bool

	// Workers is the number of processes walked in parallel; 0 means
	// runtime.GOMAXPROCS(0).
	Workers int

	// Cgroup reads /proc/<pid>/cgroup into Process.Cgroup for every process
	// in Table.Procs, for callers that name containers.
	Cgroup bool
}
