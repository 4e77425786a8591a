// Command hello prints a greeting and the user it runs as: the smallest program `berth build`
// is tested with. `hello rm PATH` deletes a file, so that a Dockerfile FROM scratch can make a
// layer with a whiteout.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "rm" {
		if err := os.RemoveAll(os.Args[2]); err != nil {
			panic(err)
		}
		return
	}
	fmt.Printf("hello from berth build, uid=%d gid=%d\n", os.Getuid(), os.Getgid())
}
