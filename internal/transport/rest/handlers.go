package rest

import (
	"context"
	"net/http"

	kubemqpb "github.com/heraldmq/herald/api/kubemq"
)

// unary decodes a Req, runs call and writes its answer. Errors the gRPC
// front returns as a status are HTTP 400 envelopes; queue errors arrive
// in-band in the answer and are HTTP 200.
func unary[Req, Resp any](s *Server, w http.ResponseWriter, r *http.Request, method string, call func(context.Context, *Req) (*Resp, error)) {
	if !s.gate(w, method) {
		return
	}
	in := new(Req)
	if err := bind(r, in); err != nil {
		s.envelope(w, http.StatusBadRequest, nil, err)
		return
	}
	out, err := call(r.Context(), in)
	if err != nil {
		s.envelope(w, httpStatus(err, http.StatusBadRequest), nil, err)
		return
	}
	if _, empty := any(out).(*kubemqpb.Empty); empty {
		s.envelope(w, http.StatusOK, nil, nil) // data: null, as /send/response answers
		return
	}
	s.envelope(w, http.StatusOK, out, nil)
}

// gate answers 503 before the server is ready and the shutdown error after
// it began; it reports whether the call may go on.
func (s *Server) gate(w http.ResponseWriter, method string) bool {
	err := s.h.Gate(method)
	if err == nil {
		return true
	}
	if s.h.Life().Err() == nil { // not shutting down: not ready yet
		s.envelope(w, http.StatusServiceUnavailable, nil, errNotReady)
		return false
	}
	s.envelope(w, http.StatusBadRequest, nil, err)
	return false
}

type textError string

func (e textError) Error() string { return string(e) }

const errNotReady = textError("rest server is not ready to accept requests")

func (s *Server) ping(w http.ResponseWriter, r *http.Request) {
	out, _ := s.h.Ping(r.Context(), &kubemqpb.Empty{})
	s.envelope(w, http.StatusOK, out, nil)
}

func (s *Server) sendEvent(w http.ResponseWriter, r *http.Request) {
	unary(s, w, r, "SendEvent", s.h.SendEvent)
}

func (s *Server) sendRequest(w http.ResponseWriter, r *http.Request) {
	unary(s, w, r, "SendRequest", s.h.SendRequest)
}

func (s *Server) sendResponse(w http.ResponseWriter, r *http.Request) {
	unary(s, w, r, "SendResponse", s.h.SendResponse)
}

func (s *Server) queueSend(w http.ResponseWriter, r *http.Request) {
	unary(s, w, r, "SendQueueMessage", s.h.SendQueueMessage)
}

func (s *Server) queueSendBatch(w http.ResponseWriter, r *http.Request) {
	unary(s, w, r, "SendQueueMessagesBatch", s.h.SendQueueMessagesBatch)
}

func (s *Server) queueAckAll(w http.ResponseWriter, r *http.Request) {
	unary(s, w, r, "AckAllQueueMessages", s.h.AckAllQueueMessages)
}

// queueReceive removes the received messages only once the reply was
// written (see grpctransport.Server.ReceiveQueueMessagesWith).
func (s *Server) queueReceive(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, "ReceiveQueueMessages") {
		return
	}
	in := new(kubemqpb.ReceiveQueueMessagesRequest)
	if err := bind(r, in); err != nil {
		s.envelope(w, http.StatusBadRequest, nil, err)
		return
	}
	err := s.h.ReceiveQueueMessagesWith(r.Context(), in, func(out *kubemqpb.ReceiveQueueMessagesResponse) error {
		s.envelope(w, http.StatusOK, out, nil)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		return r.Context().Err()
	})
	if err != nil && r.Context().Err() == nil {
		s.envelope(w, httpStatus(err, http.StatusBadRequest), nil, err)
	}
}

// queueInfo reads its filter from a JSON body, as KubeMQ does, or from the
// QueueName query parameter (official SDK REST clients lose the body).
func (s *Server) queueInfo(w http.ResponseWriter, r *http.Request) {
	if !s.gate(w, "QueuesInfo") {
		return
	}
	in := new(kubemqpb.QueuesInfoRequest)
	if err := bind(r, in); err != nil {
		s.envelope(w, http.StatusBadRequest, nil, err)
		return
	}
	if in.QueueName == "" {
		in.QueueName = r.URL.Query().Get("QueueName")
	}
	out, err := s.h.QueuesInfo(r.Context(), in)
	if err != nil {
		s.envelope(w, httpStatus(err, http.StatusInternalServerError), nil, err)
		return
	}
	s.envelope(w, http.StatusOK, out, nil)
}
