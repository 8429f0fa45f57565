package dbus

import (
	"fmt"
	"sync"
	"testing"
)

type nspawnTrayExported struct{}

func (nspawnTrayExported) Ping() *Error { return nil }

// Exports of one new path from many goroutines, as a service that exports
// an object per item from its method handlers does. Upstream each Export
// could replace the object another one had just added, losing its
// interface (and `go test -race` reports the unlocked map read).
func TestForkConcurrentExportsKeepEveryInterface(t *testing.T) {
	for round := 0; round < 50; round++ {
		h := NewDefaultHandler()
		conn := &Conn{handler: h}
		const n = 8
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			i := i
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := conn.Export(nspawnTrayExported{}, "/o", fmt.Sprintf("i.f%d", i)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		obj, ok := h.LookupObject("/o")
		if !ok {
			t.Fatal("/o is not exported")
		}
		for i := 0; i < n; i++ {
			i := i
			if _, ok := obj.LookupInterface(fmt.Sprintf("i.f%d", i)); !ok {
				t.Fatalf("round %d: interface i.f%d was lost", round, i)
			}
		}
		// And unexporting them concurrently leaves no object behind.
		for i := 0; i < n; i++ {
			i := i
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn.Export(nil, "/o", fmt.Sprintf("i.f%d", i))
			}()
		}
		wg.Wait()
		if h.PathExists("/o") {
			t.Fatalf("round %d: /o is still exported with no interfaces", round)
		}
	}
}
