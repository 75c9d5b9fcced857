package authrpc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sensocto/sensocto/server/internal/mail"
)

func TestSafeReturnTo(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"":                             "/",
		"/":                            "/",
		"/settings":                    "/settings",
		"/rooms/abc?tab=members#x":     "/rooms/abc?tab=members#x",
		"//evil.example":               "/",
		"/\\evil.example":              "/",
		"https://evil.example/":        "/",
		"javascript:alert(1)":          "/",
		"evil.example":                 "/",
		"/ok\r\nSet-Cookie: x=y":       "/",
		"/" + strings.Repeat("a", 600): "/",
	}
	for in, want := range cases {
		if got := SafeReturnTo(in); got != want {
			t.Errorf("SafeReturnTo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMailboxHandler(t *testing.T) {
	t.Parallel()
	box := mail.NewMailbox(5)
	_ = box.Send(context.Background(), mail.Message{To: "a@example.com", Subject: "hi", Text: "body", Link: "http://x/signin/magic?secret=s"})
	page := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html>")) })
	h := MailboxHandler(box, page)
	cases := []struct{ accept, want string }{
		{"application/json", `"subject":"hi"`},
		{"text/html,application/xhtml+xml,*/*;q=0.8", "<html>"},
		{"application/json, text/plain, */*", `"link":"http://x/signin/magic?secret=s"`},
		{"", "<html>"},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, MailboxPath, nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("Accept %q: body %q, want it to contain %q", c.accept, w.Body.String(), c.want)
		}
	}
}
