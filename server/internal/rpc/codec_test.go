package rpc_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A misspelled JSON field name is an InvalidArgument naming it, on unary and streaming
// calls, with and without a charset; correct JSON still works.
func TestUnknownJSONFieldIsRefused(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t)
	post := func(t *testing.T, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, env.url+procUnary, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		res, err := env.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, ct := range []string{"application/json", "application/json; charset=utf-8"} {
		if status, body := post(t, ct, `{"name":"ok","count":1}`); status != http.StatusOK {
			t.Fatalf("%s: valid JSON = %d %s", ct, status, body)
		}
		status, body := post(t, ct, `{"name":"ok","cuont":1}`)
		var e struct{ Code, Message string }
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != http.StatusBadRequest ||
			e.Code != "invalid_argument" || !strings.Contains(e.Message, `"cuont"`) {
			t.Errorf("%s: misspelled field = %d %s, want invalid_argument naming \"cuont\"", ct, status, body)
		}
	}
}
