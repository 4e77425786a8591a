// Command gohttp is a small net/http service: it serves /healthz and the files under static/.
// With -selftest it listens on a free loopback port, fetches both through an http.Client,
// prints what it got and exits, so a test can run it with `docker run` and read the output.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "ok uid=%d", os.Getuid())
	})
	mux.Handle("/static/", http.StripPrefix("/static/", http.FileServer(http.Dir("static"))))
	return mux
}

func get(client *http.Client, url string) string {
	response, err := client.Get(url)
	if err != nil {
		panic(err)
	}
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	if err != nil {
		panic(err)
	}
	return string(body)
}

func main() {
	selftest := flag.Bool("selftest", false, "serve on a free port, fetch from it and exit")
	addr := flag.String("addr", ":8080", "address to listen on")
	flag.Parse()
	if !*selftest {
		panic(http.ListenAndServe(*addr, handler()))
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go http.Serve(listener, handler())
	base := "http://" + listener.Addr().String()
	client := &http.Client{}
	fmt.Println("healthz:", get(client, base+"/healthz"))
	fmt.Print("static: ", get(client, base+"/static/index.html"))
}
