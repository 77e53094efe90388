// A CPU-bound Go target with a known call chain: main.gpOuter -> main.gpMiddle -> main.gpLeaf.
// Runs for os.Args[1] seconds (default 30).
package main

import (
	"os"
	"strconv"
	"time"
)

var sink int

//go:noinline
func gpLeaf() {
	for i := 0; i < 2000000; i++ {
		sink += i * i
	}
}

//go:noinline
func gpMiddle() {
	gpLeaf()
}

//go:noinline
func gpOuter(seconds float64) {
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	for time.Now().Before(end) {
		gpMiddle()
	}
}

func main() {
	seconds := 30.0
	if len(os.Args) > 1 {
		if value, err := strconv.ParseFloat(os.Args[1], 64); err == nil {
			seconds = value
		}
	}
	gpOuter(seconds)
}
