package authrpc

import (
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"github.com/sensocto/sensocto/server/internal/mail"
)

// MailboxPath is where the development mailbox is served.
const MailboxPath = "/dev/mailbox"

// MailboxHandler serves the development mailbox (mount it only with SENSOCTO_DEV) as a
// JSON array, newest first:
//
//	[{"id": 2, "sentAt": "2026-11-27T05:30:00Z", "to": "a@example.com",
//	  "subject": "…", "text": "…", "link": "http://…/signin/magic?secret=…"}]
//
// A request that does not ask for JSON (a browser opening the page) goes to page, the
// web app, which renders the list from the JSON.
func MailboxHandler(box *mail.Mailbox, page http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if page != nil && !wantsJSON(r) {
			page.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(box.List())
	})
}

// wantsJSON reports whether the Accept header lists application/json before text/html
// (or without it).
func wantsJSON(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json":
			return true
		case "text/html":
			return false
		}
	}
	return false
}
