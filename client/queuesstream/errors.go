package queuesstream

import "github.com/heraldmq/herald/client"

// inBand is an error the server reported in a response.
func inBand(text string) error { return client.InBandError(text) }

// argError is an input the client refuses before sending it; it matches
// client.ErrInvalidArgument.
type argError struct{ err error }

func (e *argError) Error() string        { return e.err.Error() }
func (e *argError) Is(target error) bool { return target == client.ErrInvalidArgument }

func invalidArgument(err error) error { return &argError{err: err} }
