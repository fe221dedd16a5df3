package sheets

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The steady-state batchGet answer is three long arrays of text (4 MB at 100,000 rows) that
// the Sheets client would decode with encoding/json into [][]interface{}: one boxed string per
// cell, most of the read's time. The client's HTTP transport is ours to give, so a transport
// wrapped around the one the library builds reads that one answer itself: for a request whose
// context carries a columnsSink (readColumns puts it there), a 200 answer's body is decoded by
// decodeBatchColumns into the sink, and the client gets the same JSON with each "values" array
// replaced by null, which it decodes (ranges, spreadsheet id) and checks as usual. Everything
// else the client still does: building the request, authentication, error answers
// (googleapi.Error), logging. Whatever the decoder declines, and any other answer, reaches the
// client byte for byte and takes the client's own path.

// columnsSink receives the cells of one batchGet answer decoded by the transport.
type columnsSink struct {
	ranges   [][][]string // per value range, its "values"; valid when taken
	taken    bool         // the transport decoded the answer and stripped its values
	declined string       // why the decoder left a 200 answer to the client, if it did
}

type columnsSinkKey struct{}

// withColumnsSink marks a request's context: a 200 answer to it is decoded into sink.
func withColumnsSink(ctx context.Context, sink *columnsSink) context.Context {
	return context.WithValue(ctx, columnsSinkKey{}, sink)
}

// columnsTransport is the RoundTripper given to the Sheets client.
type columnsTransport struct {
	base http.RoundTripper
}

// maxPrealloc caps the body buffer reserved from Content-Length.
const maxPrealloc = 64 << 20

func (t *columnsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	sink, _ := req.Context().Value(columnsSinkKey{}).(*columnsSink)
	if sink == nil || resp.StatusCode != http.StatusOK || resp.Body == nil || resp.Body == http.NoBody ||
		!strings.HasSuffix(req.URL.Path, ":batchGet") {
		return resp, nil
	}
	// The Go transport unzips what it asked to be zipped and then drops Content-Encoding; a
	// body still encoded is not JSON to read here.
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		sink.declined = "Content-Encoding " + strconv.Quote(ce)
		return resp, nil
	}
	body, rerr := readBody(resp.Body, resp.ContentLength)
	resp.Body.Close()
	if rerr != nil {
		// As the client would have seen it: the bytes that came, then the error.
		resp.Body = io.NopCloser(io.MultiReader(strings.NewReader(body), errorReader{rerr}))
		return resp, nil
	}
	ranges, stripped, why := decodeBatchColumns(body)
	if why != "" {
		sink.declined = why
		resp.Body = io.NopCloser(strings.NewReader(body))
		return resp, nil
	}
	sink.ranges, sink.taken = ranges, true
	resp.Body = io.NopCloser(bytes.NewReader(stripped))
	resp.ContentLength = int64(len(stripped))
	if resp.Header.Get("Content-Length") != "" {
		resp.Header = resp.Header.Clone()
		resp.Header.Set("Content-Length", strconv.Itoa(len(stripped)))
	}
	return resp, nil
}

// readBody reads r to its end into one string; size is its length when known (-1 otherwise).
// With no length (a zipped or chunked answer) it reads into chunks and copies them once into
// the string's buffer: appending to one buffer would copy it at each growth (21 MB allocated
// for a 4.2 MB answer). On an error it returns what it read and the error.
func readBody(r io.Reader, size int64) (string, error) {
	var b strings.Builder
	if size > 0 && size <= maxPrealloc {
		b.Grow(int(size))
		_, err := io.Copy(&b, r)
		return b.String(), err
	}
	var chunks [][]byte
	total, next := 0, 32<<10
	var err error
	for err == nil {
		c := make([]byte, 0, next)
		for len(c) < cap(c) && err == nil {
			var n int
			n, err = r.Read(c[len(c):cap(c)])
			c = c[:len(c)+n]
		}
		chunks = append(chunks, c)
		total += len(c)
		next = min(2*next, 1<<20)
	}
	if err == io.EOF {
		err = nil
	}
	b.Grow(total)
	for _, c := range chunks {
		b.Write(c)
	}
	return b.String(), err
}

type errorReader struct{ err error }

func (r errorReader) Read([]byte) (int, error) { return 0, r.err }
