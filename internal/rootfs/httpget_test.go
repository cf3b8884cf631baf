package rootfs

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// httpGet against net/http's server (tests may use it; the package may
// not): a plain body, a chunked one, a redirect and a 404.
func TestHTTPGet(t *testing.T) {
	body := strings.Repeat("0123456789", 5000)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/plain":
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			fmt.Fprint(w, body)
		case "/chunked":
			// Flushing before the end makes the server chunk the body.
			for i := 0; i < len(body); i += 7000 {
				fmt.Fprint(w, body[i:min(i+7000, len(body))])
				w.(http.Flusher).Flush()
			}
		case "/moved":
			http.Redirect(w, r, "/plain", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	for _, path := range []string{"/plain", "/chunked", "/moved"} {
		var buf bytes.Buffer
		n, err := httpGet(ctx, srv.URL+path, &buf)
		if err != nil || n != int64(len(body)) || buf.String() != body {
			t.Errorf("GET %s: %d bytes, %v; want the %d-byte body", path, n, err, len(body))
		}
	}
	var buf bytes.Buffer
	if _, err := httpGet(ctx, srv.URL+"/missing", &buf); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("GET /missing: %v, want a 404 error", err)
	}
	if _, err := httpGet(ctx, "https://deb.example/debian", &buf); err == nil {
		t.Error("an https URL was accepted")
	}
}
