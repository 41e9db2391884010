package rest

import (
	"net/http"
	"strings"
	"testing"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

func newReq(ctype, body string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "/x", strings.NewReader(body))
	if ctype != "" {
		r.Header.Set("Content-Type", ctype)
	}
	return r
}

func TestBind(t *testing.T) {
	for _, tt := range []struct {
		name, ctype, body, err string
		check                  func(*kubemqpb.Event) bool
	}{
		{"json", "application/json", `{"ClientID":"a","Body":"aGk="}`, "", func(e *kubemqpb.Event) bool { return e.ClientID == "a" && string(e.Body) == "hi" }},
		{"charset", "application/json; charset=utf-8", `{"clientid":"b"}`, "", func(e *kubemqpb.Event) bool { return e.ClientID == "b" }},
		{"empty body, any type", "text/plain", ``, "", func(e *kubemqpb.Event) bool { return e.ClientID == "" }},
		{"form binds nothing", "application/x-www-form-urlencoded", `ClientID=a`, "", func(e *kubemqpb.Event) bool { return e.ClientID == "" }},
		{"no type", "", `{"ClientID":"a"}`, "code=415", nil},
		{"xml", "application/xml", `<a/>`, "code=415", nil},
		{"truncated", "application/json", `{"ClientID":`, "unexpected EOF", nil},
		{"type error", "application/json", `{"Store":"yes"}`, "Unmarshal type error", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ev kubemqpb.Event
			err := bind(newReq(tt.ctype, tt.body), &ev)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !tt.check(&ev) {
				t.Fatalf("err %v, event %+v", err, &ev)
			}
		})
	}
}

// FuzzBind feeds arbitrary JSON bodies to the decoder of every message a
// REST route accepts: errors are fine, panics are not.
func FuzzBind(f *testing.F) {
	for _, s := range []string{`{}`, `{"ClientID":"a","Body":"aGk="}`, `{"Messages":[{"Channel":"q","Policy":{"DelaySeconds":1}}]}`,
		`{"Tags":{"k":"v"}}`, `[1,2]`, `null`, `{"Body":"===="}`, `{"RequestTypeData":99999999999}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, v := range []any{&kubemqpb.Event{}, &kubemqpb.Request{}, &kubemqpb.Response{}, &kubemqpb.QueueMessage{},
			&kubemqpb.QueueMessagesBatchRequest{}, &kubemqpb.ReceiveQueueMessagesRequest{}, &kubemqpb.AckAllQueueMessagesRequest{},
			&kubemqpb.QueuesInfoRequest{}, &kubemqpb.StreamQueueMessagesRequest{}} {
			_ = bind(newReq("application/json", body), v)
		}
	})
}

func TestJSONValues(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int
	}{
		{``, 0},
		{`{}`, 1},
		{`{"a":1,"b":[1,2,3]}`, 5},
		{`{"s":"[,{,],\"}"}`, 1},
		{`{"s":"\\","t":[]}`, 3},
		{`[{},{},{}]`, 6},
	} {
		if got := jsonValues([]byte(tt.in), 100); got != tt.want {
			t.Errorf("jsonValues(%s) = %d, want %d", tt.in, got, tt.want)
		}
	}
	if got := jsonValues([]byte(strings.Repeat("[", 50)), 10); got != 11 {
		t.Errorf("stops after the limit: %d, want 11", got)
	}
}

func TestBindRefusesTooManyValues(t *testing.T) {
	body := `{"Messages":[` + strings.Repeat(`{},`, MaxJSONValues/2) + `{}]}`
	var in kubemqpb.QueueMessagesBatchRequest
	err := bind(newReq("application/json", body), &in)
	if err == nil || !strings.Contains(err.Error(), "more than 2000000 JSON values") || len(in.Messages) != 0 {
		t.Fatalf("err %v, decoded %d messages", err, len(in.Messages))
	}
}
