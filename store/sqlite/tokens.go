package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/loomhq/loom/store"
)

var _ store.TokenStore = (*Store)(nil)

const tokenColumns = `name, role, hash, created, last_used, revoked`

// CreateToken stores a new token; see store.TokenStore.
func (s *Store) CreateToken(ctx context.Context, p *store.CreateTokenParams) (*store.Token, error) {
	if p.Name == "" || p.Role == "" || p.Hash == "" {
		return nil, fmt.Errorf("create token %q: a name, a role and a hash are required: %w", p.Name, store.ErrInvalid)
	}
	tok := &store.Token{Name: p.Name, Role: p.Role, Hash: p.Hash, Created: utc(now(p.Now))}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, role, hash, created) VALUES (?, ?, ?, ?)`,
			tok.Name, tok.Role, tok.Hash, toNanos(tok.Created))
		if isConstraint(err, 0) {
			return fmt.Errorf("%w: token %q", store.ErrDuplicate, tok.Name)
		}
		return err
	})
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
	var out []*store.Token
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = queryAll(ctx, tx, scanToken, q+` ORDER BY name`)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// RevokeToken marks a token revoked; see store.TokenStore.
func (s *Store) RevokeToken(ctx context.Context, p *store.RevokeTokenParams) (*store.Token, error) {
	var out *store.Token
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked = coalesce(revoked, ?) WHERE name = ?`,
			toNanos(now(p.Now)), p.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("token %q: %w", p.Name, store.ErrNotFound)
		}
		out, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE name = ?`, p.Name))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("revoke token: %w", err)
	}
	return out, nil
}

// GetTokenByHash returns the token with that hash, or ErrNotFound.
func (s *Store) GetTokenByHash(ctx context.Context, p *store.GetTokenByHashParams) (*store.Token, error) {
	var out *store.Token
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, p.Hash))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("token: %w", store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get token by hash: %w", err)
	}
	return out, nil
}

// TouchToken records a token's use; see store.TokenStore.
func (s *Store) TouchToken(ctx context.Context, p *store.TouchTokenParams) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET last_used = max(coalesce(last_used, 0), ?) WHERE name = ?`,
			toNanos(now(p.Now)), p.Name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("token %q: %w", p.Name, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}

func scanToken(sc scanner) (*store.Token, error) {
	var (
		t                 store.Token
		created           int64
		lastUsed, revoked sql.NullInt64
	)
	if err := sc.Scan(&t.Name, &t.Role, &t.Hash, &created, &lastUsed, &revoked); err != nil {
		return nil, err
	}
	t.Created = fromNanos(created)
	t.LastUsed, t.Revoked = ptrTime(lastUsed), ptrTime(revoked)
	return &t, nil
}
