package mail

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

func TestMailboxKeepsTheLastMessages(t *testing.T) {
	t.Parallel()
	b := NewMailbox(3)
	for i := range 5 {
		if err := b.Send(context.Background(), Message{To: "a@example.com", Subject: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	got := b.List()
	if len(got) != 3 || got[0].Subject != "4" || got[2].Subject != "2" || got[0].ID != 5 {
		t.Errorf("List = %+v, want messages 4, 3, 2 newest first", got)
	}
}

func TestNewSMTP(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url, from string
		wantAddr  string
		wantErr   bool
	}{
		{"smtp://u:p@mail.example.com:2525", "Sensocto <noreply@example.com>", "mail.example.com:2525", false},
		{"smtp://mail.example.com", "noreply@example.com", "mail.example.com:587", false},
		{"smtps://mail.example.com", "noreply@example.com", "mail.example.com:465", false},
		{"http://mail.example.com", "noreply@example.com", "", true},
		{"smtp://mail.example.com", "", "", true},
		{"smtp://", "noreply@example.com", "", true},
	}
	for _, c := range cases {
		s, err := NewSMTP(c.url, c.from)
		if (err != nil) != c.wantErr {
			t.Errorf("NewSMTP(%q, %q) error = %v, want error %v", c.url, c.from, err, c.wantErr)
			continue
		}
		if err == nil && s.addr != c.wantAddr {
			t.Errorf("NewSMTP(%q) addr = %s, want %s", c.url, s.addr, c.wantAddr)
		}
	}
}

func TestFormatStripsHeaderInjection(t *testing.T) {
	t.Parallel()
	msg := string(format("a@example.com", Message{To: "b@example.com\r\nBcc: evil@example.com", Subject: "Grüße", Text: "line1\nline2"}))
	if strings.Contains(msg, "\r\nBcc:") {
		t.Errorf("header injected:\n%s", msg)
	}
	if !strings.Contains(msg, "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=") || !strings.Contains(msg, "line1\r\nline2") {
		t.Errorf("bad message:\n%s", msg)
	}
}
