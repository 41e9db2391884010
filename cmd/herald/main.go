// Command herald runs the Herald message broker, a KubeMQ-compatible server
// built on embedded NATS JetStream.
//
//	herald server --data-dir ./herald-data --grpc-addr :50000
//
// Settings come from defaults, a YAML file (--config), HERALD_* environment
// variables and flags, later ones winning; see herald.example.yaml.
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/heraldmq/herald/server"
)

func main() {
	if err := newRootCmd(os.Stdout, os.Stderr).Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "herald: "+oneLine(err))
		os.Exit(1)
	}
}

// newRootCmd builds the herald command tree writing to stdout and stderr.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:                "herald",
		Short:              "Herald, a KubeMQ-compatible message broker on NATS JetStream",
		Version:            server.Version,
		SilenceErrors:      true, // main prints them, on one line
		SilenceUsage:       true,
		DisableSuggestions: true, // suggestions span several lines
		CompletionOptions:  cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetVersionTemplate(fmt.Sprintf("herald {{.Version}} (KubeMQ API %s)\n", server.KubeMQVersion))
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(newServerCmd(stdout, stderr))
	root.AddCommand(clientCommands()...)
	root.AddCommand(newTokenCmd())
	return root
}

// oneLine joins the lines of err's message, as errors.Join separates them.
func oneLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, "; ")
}
