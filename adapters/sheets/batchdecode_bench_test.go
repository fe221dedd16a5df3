package sheets

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	sheetsapi "google.golang.org/api/sheets/v4"

	"reconciler/tests/sheetsemu"
)

// batchBody is the emulator's answer to the steady-state batchGet on a generated sheet of n
// rows.
func batchBody(tb testing.TB, n int) []byte {
	tb.Helper()
	e := sheetsemu.Start(tb)
	e.SetSheet("Operaciones", sheetsemu.Generate(OperacionesHeader(), n, time.Now()).Grid)
	q := url.Values{"majorDimension": {"COLUMNS"}, "valueRenderOption": {valueRender}}
	for _, r := range []string{"'Operaciones'!G:G", "'Operaciones'!BO:BO", "'Operaciones'!BP:BP", "'Operaciones'!1:1"} {
		q.Add("ranges", r)
	}
	resp, err := http.Get(e.Endpoint() + "v4/spreadsheets/" + e.SpreadsheetID() + "/values:batchGet?" + q.Encode())
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		tb.Fatalf("%d %v", resp.StatusCode, err)
	}
	return b
}

// BenchmarkDecodeBatch compares, on the 100,000-row answer, the client's decoding
// (encoding/json into the generated types) with decodeBatchColumns plus the client's decoding
// of the stripped body, and the row parsing of each result.
func BenchmarkDecodeBatch(b *testing.B) {
	body := batchBody(b, 100000)
	b.Run("client", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			var r *sheetsapi.BatchGetValuesResponse
			if err := json.Unmarshal(body, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			ranges, stripped, why := decodeBatchColumns(string(body))
			if why != "" || len(ranges) != 4 {
				b.Fatal(why)
			}
			var r *sheetsapi.BatchGetValuesResponse
			if err := json.Unmarshal(stripped, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	ranges, _, _ := decodeBatchColumns(string(body))
	loc := santiago(b)
	b.Run("parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseTextColumns([3][]string{ranges[0][0], ranges[1][0], ranges[2][0]}, [3]int{}, loc)
		}
	})
}
