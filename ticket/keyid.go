package ticket

import (
	"crypto/sha256"
	"encoding/hex"
)

// KeyBookingID is the booking id of a booking of event made with an
// Idempotency-Key: "k-" and 32 hex digits of a SHA-256 of the event and
// the key. A replay of the key, even after booker restarts, names the
// same booking; clients that record a history (the soak) derive the id
// the same way.
func KeyBookingID(event, key string) string {
	sum := sha256.Sum256([]byte(event + "\x00" + key))
	return "k-" + hex.EncodeToString(sum[:16])
}
