package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/loomhq/loom/store"
)

const tokenColumns = `name, role, hash, created, last_used, revoked`

// CreateToken stores a new token; see store.TokenStore.
func (s *Store) CreateToken(ctx context.Context, p *store.CreateTokenParams) (*store.Token, error) {
	if p.Name == "" || p.Role == "" || p.Hash == "" {
		return nil, fmt.Errorf("create token %q: a name, a role and a hash are required: %w", p.Name, store.ErrInvalid)
	}
	tok := &store.Token{Name: p.Name, Role: p.Role, Hash: p.Hash, Created: utc(now(p.Now))}
	_, err := s.db().Exec(ctx, `INSERT INTO tokens (name, role, hash, created) VALUES ($1, $2, $3, $4)`,
		tok.Name, tok.Role, tok.Hash, toNanos(tok.Created))
	if isCode(err, codeUniqueViolation) {
		return nil, fmt.Errorf("create token: %w: token %q", store.ErrDuplicate, tok.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create token: %w", err)
	}
	return tok, nil
}

// ListTokens returns the tokens, by name.
func (s *Store) ListTokens(ctx context.Context, p *store.ListTokensParams) ([]*store.Token, error) {
	q := `SELECT ` + tokenColumns + ` FROM tokens`
	if p != nil && p.Active {
		q += ` WHERE revoked IS NULL`
	}
	out, err := queryAll(ctx, s.db(), scanToken, q+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken marks a token revoked; see store.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, p *store.RevokeTokenParams) (*store.Token, error) {
	out, err := scanToken(s.db().QueryRow(ctx, `UPDATE tokens SET revoked = coalesce(revoked, $1) WHERE name = $2
		RETURNING `+tokenColumns, toNanos(now(p.Now)), p.Name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("revoke token: token %q: %w", p.Name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("revoke token: %w", err)
	}
	return out, nil
}

// GetTokenByHash returns the token with that hash, or ErrNotFound.
func (s *Store) GetTokenByHash(ctx context.Context, p *store.GetTokenByHashParams) (*store.Token, error) {
	out, err := scanToken(s.db().QueryRow(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = $1`, p.Hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("get token by hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get token by hash: %w", err)
	}
	return out, nil
}

// TouchToken records a token's use; see store.TokenStore.
func (s *Store) TouchToken(ctx context.Context, p *store.TouchTokenParams) error {
	tag, err := s.db().Exec(ctx, `UPDATE tokens SET last_used = greatest(coalesce(last_used, 0), $1) WHERE name = $2`,
		toNanos(now(p.Now)), p.Name)
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touch token: token %q: %w", p.Name, store.ErrNotFound)
	}
	return nil
}

func scanToken(sc scanner) (*store.Token, error) {
	var (
		t                 store.Token
		created           int64
		lastUsed, revoked *int64
	)
	if err := sc.Scan(&t.Name, &t.Role, &t.Hash, &created, &lastUsed, &revoked); err != nil {
		return nil, err
	}
	t.Created = fromNanos(created)
	t.LastUsed, t.Revoked = ptrTime(lastUsed), ptrTime(revoked)
	return &t, nil
}
