package sheets

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"reconciler/tests/sheetsemu"
)

// BenchmarkAPIRead is the steady-state sheet read at 2,000, 20,000 and 100,000 rows: one
// batchGet of the three columns and row 1, decoded by the sheets/v4 client and parsed into
// rows. The emulator's answers are recorded once and replayed from memory, so the figures are
// the client side only (HTTP on loopback, decoding, parsing). Run with
//
//	go test -run '^$' -bench APIRead -benchmem ./adapters/sheets/
func BenchmarkAPIRead(b *testing.B) {
	for _, n := range []int{2000, 20000, 100000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			e := sheetsemu.Start(b)
			gen := sheetsemu.Generate(OperacionesHeader(), n, time.Now())
			e.SetSheet("Operaciones", gen.Grid)
			replay := newReplayServer(b, e.Endpoint())
			api, err := NewAPI(context.Background(), APIConfig{
				SpreadsheetID: e.SpreadsheetID(), SheetName: "Operaciones",
				Endpoint: replay.URL + "/", Location: santiago(b),
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := api.Read(context.Background()); err != nil { // caches the header map
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				snap, err := api.Read(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if len(snap.Rows) < n {
					b.Fatalf("read %d rows, want at least %d", len(snap.Rows), n)
				}
			}
		})
	}
}

// newReplayServer forwards each distinct request to upstream once and answers it from memory
// afterwards.
func newReplayServer(b *testing.B, upstream string) *httptest.Server {
	var mu sync.Mutex
	seen := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.URL.RequestURI()
		mu.Lock()
		body, ok := seen[key]
		mu.Unlock()
		if !ok {
			resp, err := http.Get(upstream + key[1:])
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				http.Error(w, "upstream failed", http.StatusBadGateway)
				return
			}
			mu.Lock()
			seen[key] = body
			mu.Unlock()
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}
