// Command hello prints a greeting and the user it runs as: the smallest program `berth build`
// is tested with. `hello rm PATH` deletes a file, so that a Dockerfile FROM scratch can make a
// layer with a whiteout; `hello ln OLD NEW` makes a hard link. Its greeting comes from a module replaced by a local directory, which
// puts a dependency and a replacement into its build information.
package main

import (
	"fmt"
	"os"

	"example.com/greeting"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "rm" {
		if err := os.RemoveAll(os.Args[2]); err != nil {
			panic(err)
		}
		return
	}
	if len(os.Args) == 4 && os.Args[1] == "ln" {
		if err := os.Link(os.Args[2], os.Args[3]); err != nil {
			panic(err)
		}
		return
	}
	fmt.Printf("%s, uid=%d gid=%d\n", greeting.Text(), os.Getuid(), os.Getgid())
}
