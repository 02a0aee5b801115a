package resolver

import "fmt"

// DeniedError summarises, once per walk, the processes that could not be
// read for lack of permission (EACCES or EPERM): another user's processes
// when running unprivileged, or hidepid.
type DeniedError struct {
	// Processes is the number of processes denied.
	Processes int
	// First is the error of the lowest denied pid.
	First error
}

func (e *DeniedError) Error() string {
	return fmt.Sprintf("%d %s not readable: permission denied (first: %v)",
		e.Processes, plural(e.Processes, "process", "processes"), e.First)
}

// Unwrap returns e.First.
func (e *DeniedError) Unwrap() error { return e.First }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
