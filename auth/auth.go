// Package auth is loom's access control: API tokens and the roles they
// carry, and the Authenticator that a server asks who sent a request.
//
// A token is "loom_" followed by 32 random bytes in unpadded base64url. It
// is shown once, when it is made; the store keeps only its SHA-256. Each
// token has a role:
//
//   - viewer reads everything;
//   - operator also submits, cancels, retries and signals tasks, pauses,
//     resumes and triggers schedules and sends events;
//   - admin also manages schedules, triggers, notifiers, checks, backfills
//     and tokens;
//   - worker only claims, heartbeats and completes tasks, and reads
//     nothing else.
//
// Authentication is on once at least one unrevoked token exists (or when
// Config.Required says so); until then a server runs open and every
// request acts as Anonymous.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/loomhq/loom/store"
)

// Role is what a token may do, or, on a route, the least a caller needs.
type Role string

// The roles a token can have, and Public for routes that need none.
const (
	// Admin may do everything.
	Admin Role = "admin"
	// Operator reads and acts on tasks and schedules.
	Operator Role = "operator"
	// Viewer reads.
	Viewer Role = "viewer"
	// Worker only claims, heartbeats and completes tasks.
	Worker Role = "worker"
	// Public marks a route that needs no token (health, the API
	// document, webhooks that carry their own signature). No token has
	// it.
	Public Role = "public"
)

// Roles are the roles a token can have, most powerful first.
var Roles = []Role{Admin, Operator, Viewer, Worker}

// Anonymous is the actor recorded for what is done while authentication
// is off.
const Anonymous = "anonymous"

// TokenPrefix starts every token, so that one is easy to recognise (and
// to find in a leaked file).
const TokenPrefix = "loom_"

// ErrUnauthenticated: the request carries no token, or one that is not
// known or was revoked.
var ErrUnauthenticated = errors.New("unauthenticated")

// ParseRole returns the token role named s, or an error matching
// store.ErrInvalid.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("role %q: want admin, operator, viewer or worker: %w", s, store.ErrInvalid)
}

// rank orders the reading roles; worker reads nothing, so it is below
// viewer.
func (r Role) rank() int {
	switch r {
	case Admin:
		return 3
	case Operator:
		return 2
	case Viewer:
		return 1
	}
	return 0
}

// Allows reports whether a token with role r may use a route that needs
// need. Admin may use every route, worker only Public and Worker ones.
func (r Role) Allows(need Role) bool {
	switch need {
	case Public:
		return true
	case Worker:
		return r == Worker || r == Admin
	case Viewer, Operator, Admin:
		return r.rank() >= need.rank()
	}
	return false
}

// NewSecret makes a fresh token secret.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash is the hex SHA-256 of a token secret, which is what the store
// keeps and looks tokens up by.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// ValidName reports whether name may name a token: 1 to 64 letters,
// digits, '.', '_' or '-', so that it is safe in a URL path, a log line
// and an event.
func ValidName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// CreateToken makes a token named name with role in ts and returns its
// secret, which is not kept anywhere: the caller shows it once. A bad
// name or role is an error matching store.ErrInvalid, a taken name one
// matching store.ErrDuplicate.
func CreateToken(ctx context.Context, ts store.TokenStore, name string, role Role, now time.Time) (secret string, tok *store.Token, err error) {
	if !ValidName(name) {
		return "", nil, fmt.Errorf("token name %q: use 1 to 64 letters, digits, '.', '_' or '-': %w", name, store.ErrInvalid)
	}
	if _, err := ParseRole(string(role)); err != nil {
		return "", nil, err
	}
	secret = NewSecret()
	tok, err = ts.CreateToken(ctx, &store.CreateTokenParams{Name: name, Role: string(role), Hash: Hash(secret), Now: now})
	if err != nil {
		return "", nil, err
	}
	return secret, tok, nil
}

// BearerToken returns the token of an Authorization header value
// ("Bearer <token>"), or "" when there is none.
func BearerToken(header string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// Principal is who sent a request: the token's name and role, or
// Anonymous with role Admin while authentication is off.
type Principal struct {
	Name string
	Role Role
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, or nil.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// Actor is the name to record as having done what ctx's request does:
// its principal's name (Anonymous while authentication is off), or ""
// when ctx carries none because nobody asked (a flow advancing, a
// schedule firing on its own).
func Actor(ctx context.Context) string {
	if p := FromContext(ctx); p != nil {
		return p.Name
	}
	return ""
}
