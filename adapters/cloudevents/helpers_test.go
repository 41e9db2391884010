package cloudevents_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding/format"
	sdkevent "github.com/cloudevents/sdk-go/v2/event"

	"github.com/heraldmq/herald/adapters/cloudevents"
)

func TestCECreateCloudEventHelpers(t *testing.T) {
	type payload struct {
		Name string `json:"name"`
	}
	before := time.Now()
	ce, err := cloudevents.CreateCloudEvent(payload{"x"}, cloudevents.EventType("org.test.Created"), "svc")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ce.ID(), "cloudevent-") || len(ce.ID()) != len("cloudevent-")+20 {
		t.Errorf("id %q", ce.ID())
	}
	if ce.Time().Location() != time.UTC || ce.Time().Before(before.Add(-time.Second)) {
		t.Errorf("time %v not now in UTC", ce.Time())
	}
	if ce.DataContentType() != "application/json" {
		t.Errorf("datacontenttype %q", ce.DataContentType())
	}
	var p payload
	if err := json.Unmarshal(ce.Data(), &p); err != nil || p.Name != "x" {
		t.Errorf("data %s: %v", ce.Data(), err)
	}
	if ce.Type() != "org.test.Created" || ce.Source() != "svc" {
		t.Errorf("type %q source %q", ce.Type(), ce.Source())
	}
	tid := cloudevents.GetTransactionID(&ce)
	if !strings.HasPrefix(string(tid), "tid-") || len(tid) != 24 {
		t.Errorf("transaction id %q", tid)
	}
	if err := ce.Validate(); err != nil {
		t.Error(err)
	}

	withID, err := cloudevents.CreateCloudEventWithTransactionID("d", cloudevents.QueryOp("op.get"), "svc", "tid-given")
	if err != nil || cloudevents.GetTransactionID(&withID) != "tid-given" {
		t.Errorf("with transaction id: %q, %v", cloudevents.GetTransactionID(&withID), err)
	}
	fresh, _ := cloudevents.CreateCloudEventWithTransactionID("d", cloudevents.QueryOp("op.get"), "svc", "")
	if !strings.HasPrefix(string(cloudevents.GetTransactionID(&fresh)), "tid-") {
		t.Errorf("empty transaction id not replaced: %q", cloudevents.GetTransactionID(&fresh))
	}
	auto, _ := cloudevents.CreateCloudEventWithAutoSource(1, cloudevents.EventType("t"))
	if auto.Source() != cloudevents.AutoPopulateCloudEventSource {
		t.Errorf("auto source %q", auto.Source())
	}

	cloudevents.SetTransactionID(&ce, "tid-other")
	if got := cloudevents.GetTransactionID(&ce); got != "tid-other" {
		t.Errorf("round trip: %q", got)
	}
	ce.SetExtension(cloudevents.TransactionIDExtension, 7)
	if got := cloudevents.GetTransactionID(&ce); got != "" {
		t.Errorf("non-string extension read as %q", got)
	}
	if got := cloudevents.GetTransactionID(nil); got != "" {
		t.Errorf("nil event: %q", got)
	}
	if a, b := cloudevents.NewTransactionID(), cloudevents.NewTransactionID(); a == b {
		t.Error("transaction ids repeat")
	}
}

func fullEvent(t *testing.T) cloudevents.Event {
	ce := sdkevent.New()
	ce.SetID("id-1")
	ce.SetSource("/src")
	ce.SetType("org.test.Full")
	ce.SetSubject("subj")
	ce.SetDataSchema("https://schema.example/x")
	ce.SetTime(time.Date(2026, 11, 22, 10, 11, 12, 123456789, time.UTC))
	ce.SetExtension("transactionid", "tid-x")
	ce.SetExtension("custom", "value")
	if err := ce.SetData("application/json", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	return ce
}

func TestCEEncodeDecodeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  cloudevents.Encoding
	}{{"structured", cloudevents.Structured}, {"binary", cloudevents.Binary}} {
		t.Run(tc.name, func(t *testing.T) {
			ce := fullEvent(t)
			w, err := cloudevents.Encode(ce, tc.enc)
			if err != nil {
				t.Fatal(err)
			}
			if w.ID != "id-1" {
				t.Errorf("wire id %q", w.ID)
			}
			switch tc.enc {
			case cloudevents.Structured:
				if w.Metadata != "application/cloudevents+json; charset=utf-8" {
					t.Errorf("metadata %q", w.Metadata)
				}
				var parsed cloudevents.Event
				if err := format.JSON.Unmarshal(w.Body, &parsed); err != nil {
					t.Fatalf("body is not CloudEvents JSON: %v", err)
				}
				for _, k := range []string{"ce-id", "ce-type", "ce-source", "ce-specversion", "ce-time", "ce-subject", "ce-transactionid"} {
					if w.Tags[k] == "" {
						t.Errorf("tag %s missing: %v", k, w.Tags)
					}
				}
			case cloudevents.Binary:
				if w.Metadata != "application/json" || string(w.Body) != `{"k":"v"}` {
					t.Errorf("metadata %q body %s", w.Metadata, w.Body)
				}
				for k := range w.Tags {
					if !strings.HasPrefix(k, "ce-") {
						t.Errorf("binary tag %q is not a ce- name", k)
					}
				}
				if _, ok := w.Tags["ce-datacontenttype"]; ok {
					t.Error("binary mode wrote ce-datacontenttype")
				}
				if w.Tags["ce-time"] != "2026-11-22T10:11:12.123456789Z" || w.Tags["ce-custom"] != "value" {
					t.Errorf("tags %v", w.Tags)
				}
			}
			got, err := cloudevents.Decode(w)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID() != ce.ID() || got.Source() != ce.Source() || got.Type() != ce.Type() || got.Subject() != ce.Subject() ||
				got.DataSchema() != ce.DataSchema() || !got.Time().Equal(ce.Time()) || got.SpecVersion() != ce.SpecVersion() ||
				got.DataContentType() != ce.DataContentType() || string(got.Data()) != string(ce.Data()) {
				t.Errorf("decoded\n%v\nwant\n%v", got, ce)
			}
			if cloudevents.GetTransactionID(&got) != "tid-x" || got.Extensions()["custom"] != "value" {
				t.Errorf("extensions %v", got.Extensions())
			}
		})
	}
	if _, err := cloudevents.Decode(cloudevents.Wire{Metadata: "text/plain", Body: []byte("x")}); err == nil {
		t.Error("a plain message decoded")
	}
}
