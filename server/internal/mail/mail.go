// Package mail owns outgoing email: the Mailer interface the domains send through, an
// SMTP mailer (net/smtp, STARTTLS when offered, implicit TLS for smtps://), a mailer that
// only logs, and the bounded in-memory development mailbox that keeps the last messages
// for the web app's dev mailbox page.
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Message is one email.
type Message struct {
	To      string
	Subject string
	// Text is the plain-text body.
	Text string
	// Link is the main link of the message (a magic link), kept separately so the dev
	// mailbox can show it as a button.
	Link string
}

// Mailer sends email.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// SMTP sends through an SMTP server given by a URL.
type SMTP struct {
	from     string
	host     string
	addr     string
	auth     smtp.Auth
	implicit bool
	timeout  time.Duration
}

// NewSMTP parses rawURL (smtp://user:pass@host:port, or smtps:// for implicit TLS; the
// default ports are 587 and 465) and from (an address, optionally with a name).
func NewSMTP(rawURL, from string) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("parse SMTP URL: invalid URL")
	}
	s := &SMTP{timeout: 30 * time.Second}
	switch u.Scheme {
	case "smtp":
	case "smtps":
		s.implicit = true
	default:
		return nil, fmt.Errorf("parse SMTP URL: scheme %q, want smtp or smtps", u.Scheme)
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("parse SMTP URL: no host")
	}
	port := u.Port()
	if port == "" {
		port = "587"
		if s.implicit {
			port = "465"
		}
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		pass, _ := u.User.Password()
		s.auth = smtp.PlainAuth("", u.User.Username(), pass, s.host)
	}
	if from == "" {
		return nil, errors.New("no sender address (SENSOCTO_SMTP_FROM)")
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("parse sender address %q: %w", from, err)
	}
	s.from = from
	return s, nil
}

// Send delivers m.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("dial SMTP %s: %w", s.addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	tlsCfg := &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	if s.implicit {
		conn = tls.Client(conn, tlsCfg)
	}
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("start SMTP session: %w", err)
	}
	defer func() { _ = c.Close() }()
	if ok, _ := c.Extension("STARTTLS"); ok && !s.implicit {
		if err := c.StartTLS(tlsCfg); err != nil {
			return fmt.Errorf("start TLS: %w", err)
		}
	}
	if s.auth != nil {
		if err := c.Auth(s.auth); err != nil {
			return fmt.Errorf("authenticate to SMTP: %w", err)
		}
	}
	from, _ := mail.ParseAddress(s.from)
	if err := c.Mail(from.Address); err != nil {
		return fmt.Errorf("send MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("send RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("send DATA: %w", err)
	}
	if _, err := w.Write(format(s.from, m)); err != nil {
		return fmt.Errorf("write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("end message: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("quit SMTP: %w", err)
	}
	return nil
}

// format renders a plain-text RFC 5322 message. Header values are stripped of line
// breaks so no header can be injected.
func format(from string, m Message) []byte {
	clean := func(s string) string { return strings.NewReplacer("\r", "", "\n", "").Replace(s) }
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", clean(from))
	fmt.Fprintf(&b, "To: %s\r\n", clean(m.To))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime(clean(m.Subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n"))
	return []byte(b.String())
}

// mime Q-encodes a header value that is not plain ASCII.
func mime(s string) string {
	for _, r := range s {
		if r > 127 {
			return qEncode(s)
		}
	}
	return s
}

func qEncode(s string) string {
	var b strings.Builder
	b.WriteString("=?utf-8?q?")
	for _, c := range []byte(s) {
		switch {
		case c == ' ':
			b.WriteByte('_')
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	b.WriteString("?=")
	return b.String()
}

// Log only logs messages (when no SMTP server is configured). The log line holds the
// link, which is what a developer or operator needs to sign in.
type Log struct {
	Logger zerolog.Logger
}

// Send logs m.
func (l Log) Send(_ context.Context, m Message) error {
	l.Logger.Info().Str("to", m.To).Str("subject", m.Subject).Str("link", m.Link).
		Msg("email not sent (no SMTP server configured)")
	return nil
}

// Stored is a message kept by a Mailbox.
type Stored struct {
	ID     int64     `json:"id"`
	SentAt time.Time `json:"sentAt"`
	To     string    `json:"to"`
	// Subject, Text and Link are as sent.
	Subject string `json:"subject"`
	Text    string `json:"text"`
	Link    string `json:"link,omitempty"`
}

// DefaultMailboxSize is how many messages a Mailbox keeps.
const DefaultMailboxSize = 100

// Mailbox is the development mailbox: it keeps the last messages in memory (a ring).
// Safe for concurrent use.
type Mailbox struct {
	mu   sync.Mutex
	size int
	next int64
	msgs []Stored
	now  func() time.Time
}

// NewMailbox keeps the last size messages (<= 0: DefaultMailboxSize).
func NewMailbox(size int) *Mailbox {
	if size <= 0 {
		size = DefaultMailboxSize
	}
	return &Mailbox{size: size, now: time.Now}
}

// Send stores m.
func (b *Mailbox) Send(_ context.Context, m Message) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.next++
	b.msgs = append(b.msgs, Stored{ID: b.next, SentAt: b.now().UTC(), To: m.To, Subject: m.Subject, Text: m.Text, Link: m.Link})
	if len(b.msgs) > b.size {
		b.msgs = append(b.msgs[:0], b.msgs[len(b.msgs)-b.size:]...)
	}
	return nil
}

// List returns the kept messages, newest first.
func (b *Mailbox) List() []Stored {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]Stored, len(b.msgs))
	for i, m := range b.msgs {
		out[len(b.msgs)-1-i] = m
	}
	return out
}

// Multi sends through every mailer, returning the errors of those that failed.
type Multi []Mailer

// Send sends m through each mailer.
func (ms Multi) Send(ctx context.Context, m Message) error {
	var errs []error
	for _, x := range ms {
		if err := x.Send(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
