package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/loomhq/loom/store"
)

// leaseTokenPrefix starts every lease token, naming its format.
const leaseTokenPrefix = "lt1."

// leaseSigner makes and checks the lease tokens of the HTTP worker
// protocol. A token names one attempt of one task and the worker it was
// handed to — "lt1." + base64url(JSON [id, attempt, worker]) + "." +
// base64url(HMAC-SHA256) — so the server keeps nothing per token, and
// nobody without the key can make one for an attempt it was not given.
// Whether the attempt is still the worker's is the store's to say.
type leaseSigner struct {
	key []byte
}

// newLeaseSigner signs with key, or with a random key when key is empty.
func newLeaseSigner(key []byte) *leaseSigner {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
	}
	return &leaseSigner{key: key}
}

// workerLease is what a lease token names.
type workerLease struct {
	store.Lease
	WorkerID string
}

func (s *leaseSigner) mac(payload string) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write([]byte(leaseTokenPrefix + payload))
	return h.Sum(nil)
}

// sign returns the token of l.
func (s *leaseSigner) sign(l workerLease) string {
	b, _ := json.Marshal([]any{l.ID, l.Attempt, l.WorkerID}) // strings and an int always marshal
	payload := base64.RawURLEncoding.EncodeToString(b)
	return leaseTokenPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload))
}

// parse checks token and returns the lease it names; a token that is
// malformed or not signed with this key is errMalformed.
func (s *leaseSigner) parse(token string) (workerLease, error) {
	bad := errorf(errMalformed, `field "lease": not a lease token of this server (give back the "lease" of the claimed task unchanged)`)
	rest, ok := strings.CutPrefix(token, leaseTokenPrefix)
	if !ok {
		return workerLease{}, bad
	}
	payload, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return workerLease{}, bad
	}
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return workerLease{}, bad
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return workerLease{}, bad
	}
	var fields []json.RawMessage
	var l workerLease
	if json.Unmarshal(b, &fields) != nil || len(fields) != 3 ||
		json.Unmarshal(fields[0], &l.ID) != nil || json.Unmarshal(fields[1], &l.Attempt) != nil ||
		json.Unmarshal(fields[2], &l.WorkerID) != nil {
		return workerLease{}, bad
	}
	return l, nil
}
