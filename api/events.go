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
	return countView(e.ID, e.Capacity, e.Sold())
}

func countView(id string, capacity, sold int) eventView {
	return eventView{ID: id, Capacity: capacity, Sold: sold, Available: max(0, capacity-sold)}
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
		WriteError(w, http.StatusBadRequest, "invalid_request", `"id" and "capacity" are required`)
		return
	}
	e, err := s.cfg.Store.Create(r.Context(), *body.ID, *body.Capacity)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	s.cfg.Observer.EventCreated(e.ID)
	w.Header().Set("Location", "/v1/events/"+e.ID)
	WriteJSON(w, http.StatusCreated, viewOf(e))
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	ids, err := s.cfg.Store.List(r.Context())
	if err != nil {
		s.writeErr(w, err)
		return
	}
	out := make([]eventView, 0, len(ids))
	for _, id := range ids {
		capacity, sold, err := s.cfg.Store.Count(r.Context(), id)
		if err != nil {
			s.writeErr(w, err)
			return
		}
		out = append(out, countView(id, capacity, sold))
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	capacity, sold, err := s.cfg.Store.Count(r.Context(), id)
	if err != nil {
		s.writeErr(w, err)
		return
	}
	WriteJSON(w, http.StatusOK, countView(id, capacity, sold))
}

// auditEvent compares what clients were told with the ticket file.
func (s *Server) auditEvent(w http.ResponseWriter, r *http.Request) {
	mark := s.cfg.Ledger.Mark()
	e, err := s.cfg.Store.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.writeErr(w, err)
		return
	}
	rep := s.cfg.Ledger.Check(e, mark)
	s.cfg.Observer.Audited(e, rep)
	WriteJSON(w, http.StatusOK, rep)
}
