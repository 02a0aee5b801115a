// Command testreport reads `go test -json` on stdin and prints what plain
// `go test` would (a line per package, the whole output of each failed
// test), plus what plain go test hides: every skipped test with its reason,
// and how many tests ran in each package. make test uses it so that a
// skip cannot pass unseen. It exits 1 if a test or a package failed.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// event is one line of go test -json (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// pkg is what one package's tests did.
type pkg struct {
	output  map[string]*strings.Builder // by test; "" is the package's own
	passed  int
	skipped []string
	failed  bool
}

func main() {
	failed, err := report(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testreport:", err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}

func report(r io.Reader, w io.Writer) (failed bool, _ error) {
	pkgs := make(map[string]*pkg)
	var order []string
	var total, skips int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			// Not an event: the go command's own words (a build error).
			fmt.Fprintf(w, "%s\n", line)
			continue
		}
		p := pkgs[e.Package]
		if p == nil {
			p = &pkg{output: make(map[string]*strings.Builder)}
			pkgs[e.Package] = p
			order = append(order, e.Package)
		}
		switch e.Action {
		case "build-output": // the compiler's errors
			fmt.Fprint(w, e.Output)
		case "output":
			b := p.output[e.Test]
			if b == nil {
				b = new(strings.Builder)
				p.output[e.Test] = b
			}
			b.WriteString(e.Output)
		case "pass":
			if e.Test != "" {
				p.passed++
				total++
				delete(p.output, e.Test)
				continue
			}
			fmt.Fprintf(w, "ok  \t%s\t%.3fs\t(%s)\n", e.Package, e.Elapsed, count(p))
		case "skip":
			if e.Test == "" { // a package without tests
				if b := p.output[""]; b != nil && strings.Contains(b.String(), "[no test files]") {
					fmt.Fprintf(w, "?   \t%s\t[no test files]\n", e.Package)
				}
				continue
			}
			reason := ""
			if b := p.output[e.Test]; b != nil {
				reason = skipReason(b.String())
			}
			p.skipped = append(p.skipped, e.Test+": "+reason)
			skips++
			delete(p.output, e.Test)
		case "fail":
			if e.Test != "" {
				p.failed = true
				// Subtests' output is printed with their parent's.
				if !strings.Contains(e.Test, "/") {
					writeTest(w, p, e.Test)
				}
				continue
			}
			// The package's own output ends with go test's FAIL line.
			failed = true
			if b := p.output[""]; b != nil {
				fmt.Fprint(w, b.String())
			}
		}
	}
	if err := sc.Err(); err != nil {
		return true, err
	}
	fmt.Fprintf(w, "%d tests passed, %d skipped", total, skips)
	for _, name := range order {
		for _, s := range pkgs[name].skipped {
			fmt.Fprintf(w, "\n  skipped in %s: %s", name, s)
		}
	}
	fmt.Fprintln(w)
	return failed, nil
}

// writeTest prints a failed test's output and its subtests', in name order.
func writeTest(w io.Writer, p *pkg, test string) {
	var names []string
	for name := range p.output {
		if name == test || strings.HasPrefix(name, test+"/") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		fmt.Fprint(w, p.output[name].String())
		delete(p.output, name)
	}
}

func count(p *pkg) string {
	s := fmt.Sprintf("%d passed", p.passed)
	if len(p.skipped) > 0 {
		s += fmt.Sprintf(", %d skipped", len(p.skipped))
	}
	return s
}

// skipReason is the text of a skip: what the test logged, without the
// lines go test itself adds.
func skipReason(out string) string {
	var reason []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "=== ") || strings.HasPrefix(line, "--- SKIP:") {
			continue
		}
		reason = append(reason, line)
	}
	return strings.Join(reason, " ")
}
