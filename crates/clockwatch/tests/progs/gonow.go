// Prints what Go's clock says and checks that timers fire on real time.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"time"
)

func main() {
	fmt.Printf("now %d\n", time.Now().Unix())
	fmt.Printf("now2 %d\n", time.Now().UnixNano())
	start := time.Now() // carries a monotonic reading
	time.Sleep(50 * time.Millisecond)
	<-time.After(50 * time.Millisecond)
	t := time.NewTimer(50 * time.Millisecond)
	<-t.C
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	<-ctx.Done()
	cancel()
	fmt.Printf("elapsed_ms %d\n", time.Since(start).Milliseconds())
	fmt.Printf("after_wall %d\n", time.Now().Unix())
	fmt.Printf("end_ns %d\n", time.Now().UnixNano())
	if len(os.Args) > 1 {
		out, err := exec.Command(os.Args[1], os.Args[2:]...).Output()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("child %s", out)
	}
}
