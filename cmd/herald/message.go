package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"crypto/rand"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// maxBodySize bounds a body read from a file or stdin (the gRPC limit).
const maxBodySize = 100 << 20

// msgFlags are the flags of the send verbs.
type msgFlags struct {
	file     string
	stdin    bool
	metadata string
	tags     []string
	id       string
}

func addMsgFlags(fs *pflag.FlagSet, mf *msgFlags) {
	fs.StringVar(&mf.file, "file", "", "read the body from `FILE`")
	fs.BoolVar(&mf.stdin, "stdin", false, "read the body from stdin (as the body argument -)")
	fs.StringVar(&mf.metadata, "metadata", "", "message metadata")
	fs.StringArrayVar(&mf.tags, "tag", nil, "tag `key=value` (repeat for more)")
	fs.StringVar(&mf.id, "id", "", "message id (default: generated)")
}

// body returns the body given as args[1], by --file or on stdin.
func (mf *msgFlags) body(cmd *cobra.Command, args []string) ([]byte, error) {
	var arg *string
	if len(args) > 1 {
		arg = &args[1]
	}
	stdin := mf.stdin || (arg != nil && *arg == "-")
	sources := 0
	for _, given := range []bool{arg != nil && *arg != "-", mf.file != "", stdin} {
		if given {
			sources++
		}
	}
	if sources > 1 {
		return nil, errors.New("give the body once: as an argument, with --file or on stdin")
	}
	switch {
	case mf.file != "":
		f, err := os.Open(mf.file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readBody(f, mf.file)
	case stdin:
		return readBody(cmd.InOrStdin(), "stdin")
	case arg != nil:
		return []byte(*arg), nil
	}
	return nil, nil
}

func readBody(r io.Reader, name string) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBodySize+1))
	if err != nil {
		return nil, fmt.Errorf("read body from %s: %w", name, err)
	}
	if len(b) > maxBodySize {
		return nil, fmt.Errorf("body in %s is larger than %d bytes", name, maxBodySize)
	}
	return b, nil
}

// tagMap parses the --tag flags.
// read returns the body and tags a send verb sends.
func (mf *msgFlags) read(cmd *cobra.Command, args []string) ([]byte, map[string]string, error) {
	body, err := mf.body(cmd, args)
	if err != nil {
		return nil, nil, err
	}
	tags, err := mf.tagMap()
	if err != nil {
		return nil, nil, err
	}
	return body, tags, nil
}

func (mf *msgFlags) tagMap() (map[string]string, error) {
	return parseTags(mf.tags)
}

func parseTags(tags []string) (map[string]string, error) {
	if len(tags) == 0 {
		return nil, nil
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("invalid --tag %q: want key=value", t)
		}
		m[k] = v
	}
	return m, nil
}

// messageID is the --id flag or a new unique id.
func (mf *msgFlags) messageID() string {
	if mf.id != "" {
		return mf.id
	}
	return rand.Text()
}

// printer writes results as text lines or, with --json, as one JSON value
// per line.
type printer struct {
	w    io.Writer
	json bool
}

func newPrinter(cmd *cobra.Command, cf *connFlags) printer {
	return printer{w: cmd.OutOrStdout(), json: cf.json}
}

// print writes v as JSON, or the human line.
func (p printer) print(human string, v any) error {
	if p.json {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(p.w, "%s\n", b)
		return err
	}
	_, err := fmt.Fprintln(p.w, human)
	return err
}

// msgRecord is a received message as the receive verbs print it.
type msgRecord struct {
	Channel      string            `json:"channel"`
	ID           string            `json:"id,omitempty"`
	Sequence     uint64            `json:"sequence,omitempty"`
	Timestamp    *time.Time        `json:"timestamp,omitempty"`
	ClientID     string            `json:"client_id,omitempty"`
	Metadata     string            `json:"metadata"`
	Body         string            `json:"body"`
	BodyEncoding string            `json:"body_encoding,omitempty"` // "base64" when the body is not UTF-8
	Tags         map[string]string `json:"tags,omitempty"`
	ReceiveCount int32             `json:"receive_count,omitempty"`
	// CacheHit and Executed describe query and command responses.
	Executed *bool  `json:"executed,omitempty"`
	CacheHit bool   `json:"cache_hit,omitempty"`
	Error    string `json:"error,omitempty"`
}

// setBody stores b as text, or base64 when it is not UTF-8.
func (r *msgRecord) setBody(b []byte) {
	if utf8.Valid(b) {
		r.Body = string(b)
		return
	}
	r.Body, r.BodyEncoding = base64.StdEncoding.EncodeToString(b), "base64"
}

// String is the human line: [channel] seq=… id=… metadata=… tags=… body=….
func (r *msgRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s]", r.Channel)
	if r.Sequence != 0 {
		fmt.Fprintf(&b, " seq=%d", r.Sequence)
	}
	if r.ID != "" {
		fmt.Fprintf(&b, " id=%s", quoteIfNeeded(r.ID))
	}
	if r.ClientID != "" {
		fmt.Fprintf(&b, " client=%s", quoteIfNeeded(r.ClientID))
	}
	if r.ReceiveCount > 1 {
		fmt.Fprintf(&b, " receive_count=%d", r.ReceiveCount)
	}
	if r.Executed != nil {
		fmt.Fprintf(&b, " executed=%t", *r.Executed)
	}
	if r.CacheHit {
		b.WriteString(" cache_hit=true")
	}
	if r.Error != "" {
		fmt.Fprintf(&b, " error=%s", quoteIfNeeded(r.Error))
	}
	fmt.Fprintf(&b, " metadata=%s", quoteIfNeeded(r.Metadata))
	if len(r.Tags) > 0 {
		fmt.Fprintf(&b, " tags=%s", quoteIfNeeded(joinTags(r.Tags)))
	}
	body := r.Body
	if r.BodyEncoding != "" {
		body = r.BodyEncoding + ":" + body
	}
	fmt.Fprintf(&b, " body=%s", quoteIfNeeded(body))
	return b.String()
}

// joinTags prints tags as k=v,k2=v2 sorted by key.
func joinTags(tags map[string]string) string {
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		kv = append(kv, k+"="+tags[k])
	}
	return strings.Join(kv, ",")
}

// quoteIfNeeded quotes s when it is empty or holds spaces, quotes or
// characters that are not printable, so that a line splits on spaces.
func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if unicode.IsSpace(r) || r == '"' || r == '\\' || !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}

// sentRecord is what the send verbs print.
type sentRecord struct {
	Channel      string `json:"channel"`
	ID           string `json:"id"`
	Sent         bool   `json:"sent"`
	Sequence     uint64 `json:"sequence,omitempty"`
	SentAt       *int64 `json:"sent_at,omitempty"`       // Unix ns
	DelayedTo    int64  `json:"delayed_to,omitempty"`    // Unix ns
	ExpirationAt int64  `json:"expiration_at,omitempty"` // Unix ns
}
