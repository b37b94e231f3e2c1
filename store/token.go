package store

import (
	"context"
	"time"
)

// TokenStore keeps the API tokens a server authenticates requests with. A
// token's secret is never stored: only its SHA-256 hash, so that a copy of
// the database does not hand out access. A backend implements it beside
// Store, on the same database.
type TokenStore interface {
	// CreateToken stores a new token, or ErrDuplicate when a token of
	// that name exists (revoked or not: a name means one token for
	// good), or ErrInvalid when the name, role or hash is empty.
	CreateToken(ctx context.Context, p *CreateTokenParams) (*Token, error)
	// ListTokens returns the tokens, by name.
	ListTokens(ctx context.Context, p *ListTokensParams) ([]*Token, error)
	// RevokeToken marks a token revoked from Now on and returns it, or
	// ErrNotFound. Revoking a revoked token keeps its first revocation
	// time.
	RevokeToken(ctx context.Context, p *RevokeTokenParams) (*Token, error)
	// GetTokenByHash returns the token whose hash is Hash, revoked or not,
	// or ErrNotFound.
	GetTokenByHash(ctx context.Context, p *GetTokenByHashParams) (*Token, error)
	// TouchToken records that a token was used at Now; a time older than
	// the recorded one does not move it back. ErrNotFound when there is no
	// such token.
	TouchToken(ctx context.Context, p *TouchTokenParams) error
}

// Token is a stored API token: everything but its secret.
type Token struct {
	// Name identifies the token, unique; it is the actor recorded for what
	// the token does.
	Name string `json:"name"`
	// Role is what the token may do: "admin", "operator", "viewer" or
	// "worker" (package auth gives them meaning).
	Role string `json:"role"`
	// Hash is the hex SHA-256 of the token's secret.
	Hash string `json:"-"`
	// Created is when the token was made.
	Created time.Time `json:"created"`
	// LastUsed is when the token last authenticated a request, nil when
	// never. It is recorded at most about once a minute.
	LastUsed *time.Time `json:"last_used,omitempty"`
	// Revoked is when the token was revoked, nil while it is valid.
	Revoked *time.Time `json:"revoked,omitempty"`
}

// CreateTokenParams describe a new token.
type CreateTokenParams struct {
	Name string
	Role string
	// Hash is the hex SHA-256 of the secret, made by the caller.
	Hash string
	// Now is the creation time; zero means the current time.
	Now time.Time
}

// ListTokensParams filter the token list.
type ListTokensParams struct {
	// Active keeps only the tokens that are not revoked.
	Active bool
}

// RevokeTokenParams name the token to revoke.
type RevokeTokenParams struct {
	Name string
	// Now is the revocation time; zero means the current time.
	Now time.Time
}

// GetTokenByHashParams look a token up by its secret's hash.
type GetTokenByHashParams struct {
	Hash string
}

// TouchTokenParams record a token's use.
type TouchTokenParams struct {
	Name string
	Now  time.Time
}
