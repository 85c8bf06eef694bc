package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/rapporthq/rapport/internal/api/wire"
	"github.com/rapporthq/rapport/internal/store"
)

func (s *Server) getVoucher(w http.ResponseWriter, r *http.Request) {
	v, err := s.Store.GetVoucher(r.Context(), strings.ToUpper(r.PathValue("code")))
	if errors.Is(err, store.ErrNotFound) {
		notFound(w, "voucher", r.PathValue("code"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, voucherBody(v))
}

// redeemVoucher marks a voucher used: 200 with the voucher, 409 if it was
// used already, 410 if it expired, 404 if there is no such code.
func (s *Server) redeemVoucher(w http.ResponseWriter, r *http.Request) {
	var req wire.RedeemRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	if err := text("order_id", req.OrderID, maxRef, true); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.Store.RedeemVoucher(r.Context(), strings.ToUpper(r.PathValue("code")), req.OrderID, time.Now(), keyName(r))
	switch {
	case errors.Is(err, store.ErrNotFound):
		notFound(w, "voucher", r.PathValue("code"))
	case errors.Is(err, store.ErrConflict):
		writeJSON(w, http.StatusConflict, wire.Error{Message: "the voucher was already used on " + v.RedeemedAt.UTC().Format(time.RFC3339)})
	case errors.Is(err, store.ErrExpired):
		writeJSON(w, http.StatusGone, wire.Error{Message: "the voucher expired on " + v.ExpiresAt.UTC().Format(time.RFC3339)})
	case err != nil:
		s.fail(w, r, err)
	default:
		writeJSON(w, http.StatusOK, voucherBody(v))
	}
}
