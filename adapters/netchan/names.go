package netchan

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/heraldmq/herald/client"
)

const (
	// metadataMarker is the Metadata of every netchan message, so that an
	// empty payload is still a valid KubeMQ message.
	metadataMarker = "netchan/1"

	tagSeal       = "herald.seal"
	tagMD5        = "netchan.md5"
	tagCount      = "netchan.count"
	tagKey        = "netchan.key"
	tagHeader     = "netchan.h."
	tagEventTime  = "netchan.event_time"
	tagPartitions = "netchan.partitions"
	tagPublisher  = "netchan.publisher"

	maxPartitions = 1024
)

// validateChannel applies the KubeMQ rules (client.ValidateChannel) to a
// derived events-store channel name.
func validateChannel(ch string) error {
	if err := client.ValidateChannel(ch, false); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidName, ch, err)
	}
	return nil
}

// validateUser checks a user-supplied name part before it is embedded.
func validateUser(what, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalidName, what)
	}
	if p := client.ReservedPrefix(name); p != "" {
		return fmt.Errorf("%w: %s %q uses the reserved prefix %q", ErrInvalidName, what, name, p)
	}
	if err := validateChannel(name); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// channelName is the events-store channel of network channel name.
func channelName(prefix, name string) (string, error) {
	if err := validateUser("channel name", name); err != nil {
		return "", err
	}
	ch := prefix + "chan." + name
	if err := validateChannel(ch); err != nil {
		return "", err
	}
	return ch, nil
}

// topicBase is "<prefix>topic.<ns>.<topic>." — partition channels append
// the partition number.
func topicBase(prefix, namespace, topic string) (string, error) {
	if err := validateUser("namespace", namespace); err != nil {
		return "", err
	}
	if strings.Contains(namespace, ".") {
		return "", fmt.Errorf("%w: namespace %q contains a dot", ErrInvalidName, namespace)
	}
	if err := validateUser("topic", topic); err != nil {
		return "", err
	}
	base := prefix + "topic." + namespace + "." + topic + "."
	if err := validateChannel(base + "0"); err != nil {
		return "", err
	}
	return base, nil
}

func partitionChannel(base string, p int) string { return base + strconv.Itoa(p) }

// isMarker tells a close marker: the tag herald.seal with the value true.
// Readers ignore the case of the value (Herald seals only on "true"), so a
// marker a foreign client wrote as "TRUE" still ends netchan readers.
func isMarker(tags map[string]string) bool {
	v, ok := tags[tagSeal]
	return ok && strings.EqualFold(v, "true")
}
