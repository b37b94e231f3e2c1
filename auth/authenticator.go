package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/loomhq/loom/store"
)

// DefaultCacheTTL is how long, by default, an Authenticator trusts what it
// read from the store: a token revoked by another process (`loom tokens
// revoke --db`) stops working within it. A revocation through the same
// Authenticator takes effect at once.
const DefaultCacheTTL = time.Second

// touchEvery is how often a token's last use is written at most, so that
// a busy client costs the store a write a minute, not one a request.
const touchEvery = time.Minute

// maxCached bounds the cached tokens; past it the cache starts afresh.
const maxCached = 1024

// Config configures an Authenticator.
type Config struct {
	// Tokens is where tokens are kept. Nil means there are none: the
	// server runs open unless Required.
	Tokens store.TokenStore
	// Required turns authentication on even before a token exists, so
	// that every request (but Public routes) is refused until one is
	// made offline.
	Required bool
	// CacheTTL is how long lookups are trusted. Default DefaultCacheTTL.
	CacheTTL time.Duration
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Authenticator tells who sent a request from its token, with a short
// cache in front of the store. It is safe for concurrent use.
type Authenticator struct {
	cfg Config

	mu        sync.Mutex
	enabled   bool
	enabledAt time.Time // when enabled was read; zero: never
	cache     map[string]cached
	touched   map[string]time.Time
}

type cached struct {
	tok *store.Token
	at  time.Time
}

// New returns an Authenticator over cfg.Tokens.
func New(cfg Config) *Authenticator {
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{cfg: cfg, cache: map[string]cached{}, touched: map[string]time.Time{}}
}

// Tokens returns the store the Authenticator reads, nil when it has none.
func (a *Authenticator) Tokens() store.TokenStore { return a.cfg.Tokens }

// Enabled reports whether requests must carry a token: Config.Required,
// or at least one unrevoked token exists.
func (a *Authenticator) Enabled(ctx context.Context) (bool, error) {
	if a.cfg.Required {
		return true, nil
	}
	if a.cfg.Tokens == nil {
		return false, nil
	}
	now := a.cfg.Now()
	a.mu.Lock()
	if !a.enabledAt.IsZero() && now.Sub(a.enabledAt) < a.cfg.CacheTTL {
		on := a.enabled
		a.mu.Unlock()
		return on, nil
	}
	a.mu.Unlock()
	toks, err := a.cfg.Tokens.ListTokens(ctx, &store.ListTokensParams{Active: true})
	if err != nil {
		return false, fmt.Errorf("is authentication on: %w", err)
	}
	a.mu.Lock()
	a.enabled, a.enabledAt = len(toks) > 0, now
	a.mu.Unlock()
	return len(toks) > 0, nil
}

// Authenticate returns who a request carrying secret (its bearer token,
// "" for none) is. While authentication is off that is Anonymous with
// role Admin, whatever the secret; otherwise a missing, unknown or
// revoked token is ErrUnauthenticated.
func (a *Authenticator) Authenticate(ctx context.Context, secret string) (*Principal, error) {
	on, err := a.Enabled(ctx)
	if err != nil {
		return nil, err
	}
	if !on {
		return &Principal{Name: Anonymous, Role: Admin}, nil
	}
	if secret == "" {
		return nil, fmt.Errorf("no token: %w", ErrUnauthenticated)
	}
	return a.AuthenticateHash(ctx, Hash(secret))
}

// AuthenticateHash is Authenticate for a token known by its hash (a web
// session keeps the hash, not the secret), while authentication is on:
// it does not check whether it is.
func (a *Authenticator) AuthenticateHash(ctx context.Context, hash string) (*Principal, error) {
	tok, err := a.lookup(ctx, hash)
	if err != nil {
		return nil, err
	}
	if tok.Revoked != nil {
		return nil, fmt.Errorf("token %s was revoked: %w", tok.Name, ErrUnauthenticated)
	}
	role, err := ParseRole(tok.Role)
	if err != nil {
		return nil, fmt.Errorf("token %s: %w", tok.Name, ErrUnauthenticated)
	}
	a.touch(ctx, tok.Name)
	return &Principal{Name: tok.Name, Role: role}, nil
}

func (a *Authenticator) lookup(ctx context.Context, hash string) (*store.Token, error) {
	if a.cfg.Tokens == nil {
		return nil, fmt.Errorf("unknown token: %w", ErrUnauthenticated)
	}
	now := a.cfg.Now()
	a.mu.Lock()
	c, ok := a.cache[hash]
	a.mu.Unlock()
	if ok && now.Sub(c.at) < a.cfg.CacheTTL {
		return c.tok, nil
	}
	tok, err := a.cfg.Tokens.GetTokenByHash(ctx, &store.GetTokenByHashParams{Hash: hash})
	if errors.Is(err, store.ErrNotFound) {
		// Misses are not cached: a stream of made-up tokens would only
		// fill the cache.
		return nil, fmt.Errorf("unknown token: %w", ErrUnauthenticated)
	}
	if err != nil {
		return nil, fmt.Errorf("look up token: %w", err)
	}
	a.mu.Lock()
	if len(a.cache) >= maxCached {
		clear(a.cache)
	}
	a.cache[hash] = cached{tok: tok, at: now}
	a.mu.Unlock()
	return tok, nil
}

// touch records a token's use, at most once per touchEvery; a failure
// costs only the last-used time, so it is not the request's.
func (a *Authenticator) touch(ctx context.Context, name string) {
	now := a.cfg.Now()
	a.mu.Lock()
	last, ok := a.touched[name]
	if ok && now.Sub(last) < touchEvery {
		a.mu.Unlock()
		return
	}
	if len(a.touched) >= maxCached {
		clear(a.touched)
	}
	a.touched[name] = now
	a.mu.Unlock()
	_ = a.cfg.Tokens.TouchToken(ctx, &store.TouchTokenParams{Name: name, Now: now})
}

// Forget drops what the Authenticator cached, so that a token made or
// revoked through it counts at once.
func (a *Authenticator) Forget() {
	a.mu.Lock()
	defer a.mu.Unlock()
	clear(a.cache)
	a.enabledAt = time.Time{}
}

// CreateToken makes a token in the Authenticator's store; see the
// package's CreateToken.
func (a *Authenticator) CreateToken(ctx context.Context, name string, role Role) (string, *store.Token, error) {
	if a.cfg.Tokens == nil {
		return "", nil, ErrNoStore
	}
	secret, tok, err := CreateToken(ctx, a.cfg.Tokens, name, role, a.cfg.Now())
	a.Forget()
	return secret, tok, err
}

// RevokeToken revokes the token named name, effective at once here.
func (a *Authenticator) RevokeToken(ctx context.Context, name string) (*store.Token, error) {
	if a.cfg.Tokens == nil {
		return nil, ErrNoStore
	}
	tok, err := a.cfg.Tokens.RevokeToken(ctx, &store.RevokeTokenParams{Name: name, Now: a.cfg.Now()})
	a.Forget()
	return tok, err
}

// ErrNoStore: the Authenticator has no token store, so tokens cannot be
// made or revoked through it.
var ErrNoStore = errors.New("this server keeps no tokens")
