package ingest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/flowkit/flowkit/ingest"
	"github.com/flowkit/flowkit/store/memory"
)

// FuzzHandler sends arbitrary bodies to each call: the handler never
// panics, answers a known status with a JSON body, and accounts for
// every call of a batch it read (applied, or reported with its index).
func FuzzHandler(f *testing.F) {
	for _, name := range []string{"track.json", "identify.json", "batch.json", "track-http-api.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(0), b)
		f.Add(byte(2), b)
	}
	f.Add(byte(1), []byte(`{"userId":7,"traits":{"birthday":"1990-02-30","address":{"city":1},"name":"  "}}`))
	f.Add(byte(2), []byte(`{"batch":[{"type":"track","anonymousId":"a","event":"E","properties":{"a":{"b":[1,{"$t":"x"}]}}},null,1]}`))
	f.Add(byte(0), []byte(`{"userId":"u","event":"E","originalTimestamp":"2020-01-01T00:00:00Z","sentAt":"2020-01-01T00:00:01Z"}`))
	paths := []string{"/v1/track", "/v1/identify", "/v1/batch"}
	eng := newEngine(f, memory.New())
	h := newHandler(f, eng, ingest.Options{MaxBodyBytes: 64 << 10, MaxCallBytes: 8 << 10, MaxBatchCalls: 50})
	f.Fuzz(func(t *testing.T, which byte, body []byte) {
		path := paths[int(which)%len(paths)]
		r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		r.SetBasicAuth(writeKey, "")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		var res ingest.Response
		if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
			t.Fatalf("the answer is not JSON: %v: %s", err, w.Body)
		}
		if res.Error != "" {
			return // refused as a whole
		}
		calls := 1
		if path == "/v1/batch" {
			var b struct{ Batch []json.RawMessage }
			if err := json.Unmarshal(body, &b); err != nil {
				t.Fatalf("a batch that is not one was read: %s", body)
			}
			calls = len(b.Batch)
		}
		if res.Accepted+len(res.Errors) != calls {
			t.Fatalf("%d calls, %d accepted, %d errors: %s", calls, res.Accepted, len(res.Errors), w.Body)
		}
		for _, e := range res.Errors {
			if e.Error == "" || e.Index < 0 || e.Index >= calls {
				t.Fatalf("a call error without words or index: %+v", e)
			}
		}
	})
}
