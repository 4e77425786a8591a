// Command greeter prints the greeting baked into its image: the test program that the tests
// and the benchmark compile with the host's Go and build FROM scratch with the Docker engine.
package main

import (
	"fmt"
	"os"
)

func main() {
	data, err := os.ReadFile("/etc/greeting")
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s from a Go program\n", data)
}
