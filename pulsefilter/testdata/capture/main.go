// Command capture records a session of the PulseAudio native protocol
// between one client and a real server into the format of ../*.frames that
// TestGolden replays: each frame (header and payload) after a byte for its
// direction, C or S, in the order they arrived. AUTH's cookie and the
// client's machine id are zeroed. It serves one connection and exits when
// either side closes.
//
//	go build -o /tmp/capture ./pulsefilter/testdata/capture
//	/tmp/capture -listen /tmp/cap.sock -upstream "$XDG_RUNTIME_DIR/pulse/native" -out pactl-info.frames &
//	PULSE_SERVER=unix:/tmp/cap.sock PULSE_CLIENTCONFIG=noshm.conf pactl info   # noshm.conf: enable-shm = no
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"io"
	"log"
	"net"
	"os"
	"sync"
)

const headerSize = 20

func main() {
	listen := flag.String("listen", "", "socket to listen on")
	upstream := flag.String("upstream", "", "the server's socket")
	out := flag.String("out", "", "file to write the frames to")
	flag.Parse()
	if *listen == "" || *upstream == "" || *out == "" {
		flag.Usage()
		os.Exit(2)
	}
	l, err := net.Listen("unix", *listen)
	if err != nil {
		log.Fatal(err)
	}
	client, err := l.Accept()
	if err != nil {
		log.Fatal(err)
	}
	l.Close()
	server, err := net.Dial("unix", *upstream)
	if err != nil {
		log.Fatal(err)
	}
	var (
		mu     sync.Mutex
		frames bytes.Buffer
		wg     sync.WaitGroup
	)
	pump := func(dir byte, from, to net.Conn) {
		defer wg.Done()
		defer to.Close()
		for {
			h := make([]byte, headerSize)
			if _, err := io.ReadFull(from, h); err != nil {
				return
			}
			payload := make([]byte, binary.BigEndian.Uint32(h))
			if _, err := io.ReadFull(from, payload); err != nil {
				return
			}
			frame := append(append([]byte{}, h...), payload...)
			if dir == 'C' {
				payload = anonymize(payload)
			}
			// Recorded before it is passed on: an answer to it cannot
			// come first.
			mu.Lock()
			frames.WriteByte(dir)
			frames.Write(h)
			frames.Write(payload)
			mu.Unlock()
			if _, err := to.Write(frame); err != nil {
				return
			}
		}
	}
	wg.Add(2)
	go pump('C', client, server)
	go pump('S', server, client)
	wg.Wait()
	if err := os.WriteFile(*out, frames.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}

// anonymize zeroes AUTH's cookie (an arbitrary of 256 bytes) and writes
// '0's over application.process.machine_id in a client's packet, in place.
func anonymize(p []byte) []byte {
	// AUTH: command 8, its tag, version, then 'x' and the cookie's length.
	auth := []byte{'L', 0, 0, 0, 8}
	if bytes.HasPrefix(p, auth) {
		cookie := []byte{'x', 0, 0, 1, 0}
		if i := bytes.Index(p, cookie); i >= 0 && i+len(cookie)+256 <= len(p) {
			clear(p[i+len(cookie) : i+len(cookie)+256])
		}
	}
	// A property: 't' key NUL, 'L' length, 'x' length, the value.
	key := []byte("tapplication.process.machine_id\x00")
	if i := bytes.Index(p, key); i >= 0 {
		v := i + len(key) + 5 + 5
		if v <= len(p) {
			n := int(binary.BigEndian.Uint32(p[v-4 : v]))
			if v+n <= len(p) && n > 0 {
				for j := v; j < v+n-1; j++ { // the value keeps its NUL
					p[j] = '0'
				}
			}
		}
	}
	return p
}
