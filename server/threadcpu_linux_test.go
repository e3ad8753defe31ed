package server

import "syscall"

// threadCPU returns the CPU time, in nanoseconds, the calling OS thread
// has used (the caller locks its goroutine to the thread): what a piece
// of work costs, unlike its wall time, whatever else the machine runs.
func threadCPU() int64 {
	var ru syscall.Rusage
	const rusageThread = 1 // RUSAGE_THREAD
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
