package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/loomhq/loom/store"
)

// CreatedToken is a token just made, with its secret: the only time the
// server tells it.
type CreatedToken struct {
	store.Token
	// Secret is the token to send as "Authorization: Bearer <Secret>".
	Secret string `json:"token"`
}

// CreateToken makes an API token named name with role ("admin",
// "operator", "viewer" or "worker"). It needs an admin token, or a server
// that has none yet.
func (c *Client) CreateToken(ctx context.Context, name, role string) (*CreatedToken, error) {
	var out CreatedToken
	body := map[string]string{"name": name, "role": role}
	if _, err := c.do(ctx, http.MethodPost, "/tokens", nil, body, &out); err != nil {
		return nil, fmt.Errorf("create token %s: %w", name, err)
	}
	return &out, nil
}

// Tokens lists the API tokens, by name, without their secrets.
func (c *Client) Tokens(ctx context.Context) ([]*store.Token, error) {
	var out struct {
		Tokens []*store.Token `json:"tokens"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/tokens", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out.Tokens, nil
}

// RevokeToken revokes the token named name; it stops authenticating at
// once.
func (c *Client) RevokeToken(ctx context.Context, name string) (*store.Token, error) {
	var out store.Token
	if _, err := c.do(ctx, http.MethodPost, "/tokens/"+url.PathEscape(name)+"/revoke", nil, nil, &out); err != nil {
		return nil, fmt.Errorf("revoke token %s: %w", name, err)
	}
	return &out, nil
}
