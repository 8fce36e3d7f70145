package api

import (
	"net/http"

	"github.com/bookerhq/booker/ticket"
)

// eventView is an event as the API shows it.
type eventView struct {
	ID        string `json:"id"`
	Capacity  int    `json:"capacity"`
	Sold      int    `json:"sold"`
	Available int    `json:"available"`
}

func viewOf(e *ticket.Event) eventView {
	return eventView{ID: e.ID, Capacity: e.Capacity, Sold: e.Sold(), Available: e.Available()}
}

func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ID       *string `json:"id"`
		Capacity *int    `json:"capacity"`
	}
	if err := decode(w, r, &body); err != nil {
		writeDecodeError(w, err)
		return
	}
	if body.ID == nil || body.Capacity == nil {
		writeError(w, http.StatusBadRequest, "invalid_request", `"id" and "capacity" are required`)
		return
	}
	e, err := s.cfg.Store.Create(r.Context(), *body.ID, *body.Capacity)
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/events/"+e.ID)
	writeJSON(w, http.StatusCreated, viewOf(e))
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	ids, err := s.cfg.Store.List()
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	out := make([]eventView, 0, len(ids))
	for _, id := range ids {
		e, err := s.cfg.Store.Get(r.Context(), id)
		if err != nil {
			s.writeStoreError(w, err)
			return
		}
		out = append(out, viewOf(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	e, err := s.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, viewOf(e))
}

// auditEvent compares what clients were told with the ticket file.
func (s *Server) auditEvent(w http.ResponseWriter, r *http.Request) {
	e, err := s.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeStoreError(w, err)
		return
	}
	rep := s.cfg.Ledger.Check(e)
	s.cfg.Observer.Audited(e, rep)
	writeJSON(w, http.StatusOK, rep)
}
