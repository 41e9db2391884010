package bus_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldmq/herald/adapters/adaptertest"
	"github.com/heraldmq/herald/adapters/bus"
)

func subject(name string, pattern bus.Pattern, group string, assume *bool, f adaptertest.Features) adaptertest.Subject {
	return adaptertest.Subject{
		Start:          startHerald,
		Name:           name,
		Features:       f,
		ErrClosed:      bus.ErrClosed,
		ErrInvalidName: bus.ErrInvalidName,
		Open: func(t *testing.T, srv *adaptertest.Server, channel string) (func(context.Context, []byte) error, func(context.Context) ([]byte, error), func() error) {
			base := bus.MsgBusConfig{Topic: channel, Pattern: pattern, AssumeHerald: assume, WriteTimeout: 30 * time.Second}
			rc := base
			rc.Direction, rc.GroupId = bus.BusReader, group
			if group != "" {
				// A fresh channel: from the first is from the group's
				// creation, and the fallback needs no subscribe race.
				rc.StartAt = bus.StartOldest
			}
			r := open(t, srv, rc)
			wc := base
			wc.Direction = bus.BusWriter
			w := open(t, srv, wc)
			write := func(ctx context.Context, b []byte) error { return w.MessageWriteContext(ctx, string(b)) }
			read := func(ctx context.Context) ([]byte, error) {
				m, err := r.MessageReadContext(ctx)
				return []byte(m), err
			}
			return write, read, func() error { return errors.Join(r.Close(), w.Close()) }
		},
		OpenInvalid: func(t *testing.T, host string, port int, channel string) error {
			_, err := bus.ConnectContext(context.Background(), bus.MsgBusConfig{
				Host: host, Port: port, Topic: channel, Direction: bus.BusReader, ConnectRetries: 1, AssumeHerald: assume,
			})
			return err
		},
	}
}

func TestBusConformance(t *testing.T) {
	t.Run("Herald", func(t *testing.T) {
		// Group reads are acked durable reads (H3).
		adaptertest.Run(t, subject("EventsStoreGroup", bus.PatternEventsStore, "conformance.group", nil,
			adaptertest.Features{Persistent: true, Ordered: true}))
		adaptertest.Run(t, subject("Events", bus.PatternEvents, "", nil, adaptertest.Features{Ordered: true}))
		adaptertest.Run(t, subject("Queue", bus.PatternQueue, "", nil, adaptertest.Features{Persistent: true, Ordered: true}))
	})
	t.Run("Portable", func(t *testing.T) {
		noHerald := herald(false)
		// Group reads fall back to an events-store group subscription: at
		// most once, and a message the broker pushed as it stopped comes
		// back only after the broker's ack wait, out of order — so it is
		// not checked across a restart (TestBusGroupSurvivesRestart checks
		// the group's position). A reader without a group is.
		adaptertest.Run(t, subject("EventsStoreGroup", bus.PatternEventsStore, "conformance.group", noHerald,
			adaptertest.Features{Ordered: true}))
		adaptertest.Run(t, subject("EventsStore", bus.PatternEventsStore, "", noHerald,
			adaptertest.Features{Persistent: true, Ordered: true}))
		adaptertest.Run(t, subject("Events", bus.PatternEvents, "", noHerald, adaptertest.Features{Ordered: true}))
		adaptertest.Run(t, subject("Queue", bus.PatternQueue, "", noHerald, adaptertest.Features{Persistent: true, Ordered: true}))
	})
}
