// ns per time.Now() (a wall and a monotonic read), and a timer-heavy workload's wall time.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func main() {
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	start := time.Now()
	var last time.Time
	for i := 0; i < n; i++ {
		last = time.Now()
	}
	fmt.Printf("now_ns_per_call %.1f\n", float64(time.Since(start).Nanoseconds())/float64(n))
	start = time.Now()
	var d time.Duration
	for i := 0; i < n; i++ {
		d += time.Since(start)
	}
	fmt.Printf("since_ns_per_call %.1f\n", float64(time.Since(start).Nanoseconds())/float64(n))
	// Timer-heavy: goroutines each arming many short timers and tickers.
	start = time.Now()
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				t := time.NewTimer(50 * time.Microsecond)
				<-t.C
				select {
				case <-time.After(20 * time.Microsecond):
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("timer_workload_ms %.1f\n", float64(time.Since(start).Microseconds())/1000)
	fmt.Printf("last %d %d\n", last.Unix(), d)
}
