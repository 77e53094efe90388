// A Go program that profiles itself with runtime/pprof, as a service behind net/http/pprof would:
// os.Args[2] gets the CPU profile of os.Args[1] seconds of work, about three quarters in
// main.gpOuter -> main.gpMiddle -> main.gpLeaf and one quarter in main.gpOther.
package main

import (
	"os"
	"runtime/pprof"
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
func gpOther() {
	for i := 0; i < 2000000; i++ {
		sink ^= i
	}
}

//go:noinline
func gpOuter(seconds float64) {
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	for round := 0; time.Now().Before(end); round++ {
		if round%4 == 3 {
			gpOther()
		} else {
			gpMiddle()
		}
	}
}

func main() {
	seconds, err := strconv.ParseFloat(os.Args[1], 64)
	if err != nil {
		panic(err)
	}
	output, err := os.Create(os.Args[2])
	if err != nil {
		panic(err)
	}
	if err := pprof.StartCPUProfile(output); err != nil {
		panic(err)
	}
	gpOuter(seconds)
	pprof.StopCPUProfile()
	if err := output.Close(); err != nil {
		panic(err)
	}
}
