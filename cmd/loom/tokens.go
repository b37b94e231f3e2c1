package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/client"
	"github.com/loomhq/loom/store"
	"github.com/spf13/cobra"
)

// client returns a client of --server that sends --token (or
// $LOOM_TOKEN).
func (g *globals) client() *client.Client {
	c := client.New(g.server)
	c.Token = g.token
	if c.Token == "" && g.getenv != nil {
		c.Token = g.getenv("LOOM_TOKEN")
	}
	return c
}

// tokenHint is added to an "unauthorized" answer, which a user fixes by
// passing a token.
const tokenHint = "the server requires an API token: pass --token TOKEN or set LOOM_TOKEN " +
	"(an admin makes one with 'loom tokens create NAME --role viewer', or offline with --db)"

func (m *Main) newTokensCommand(g *globals) *cobra.Command {
	var db dbOptions
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "API tokens: make, list and revoke them",
		Long: `API tokens authenticate requests to a loom server ("Authorization: Bearer").
Once one unrevoked token exists, every API request and UI page needs one.
Roles: viewer reads; operator also submits, cancels, retries, signals,
pauses/resumes/triggers schedules and sends events; admin also manages
schedules, triggers, notifiers, checks, backfills and tokens; worker only
claims, heartbeats and completes tasks.

The commands go through the server (with an admin token), or with --db
straight to its database (a SQLite file or a postgres:// URL), so that the first admin token can be made
before the server is exposed.`,
	}
	cmd.PersistentFlags().StringVar(&db.db, "db", "", "work on this database (SQLite file or postgres:// URL) directly instead of through --server")
	cmd.PersistentFlags().StringVar(&db.schema, "db-schema", "", "PostgreSQL schema of --db (default: the URL's search_path, else public)")

	var role string
	create := &cobra.Command{
		Use: "create NAME --role ROLE", Short: "Make a token and print it (shown once)", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return &usageError{fmt.Errorf("--role: %w", err)}
			}
			var out *client.CreatedToken
			if db.db != "" {
				err = m.withTokenStore(cmd.Context(), db, func(ts store.TokenStore) error {
					secret, tok, err := auth.CreateToken(cmd.Context(), ts, args[0], r, time.Time{})
					if err != nil {
						return fmt.Errorf("create token %s: %w", args[0], err)
					}
					out = &client.CreatedToken{Token: *tok, Secret: secret}
					return nil
				})
			} else {
				out, err = g.client().CreateToken(cmd.Context(), args[0], string(r))
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, out)
			}
			fmt.Fprintln(m.Stdout, out.Secret)
			fmt.Fprintf(m.Stderr, "token %s (%s) made; it is shown only now: keep it secret\n", out.Name, out.Role)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, operator, viewer or worker (required)")

	list := &cobra.Command{
		Use: "list", Short: "List tokens (never their secrets)", Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var toks []*store.Token
			var err error
			if db.db != "" {
				err = m.withTokenStore(cmd.Context(), db, func(ts store.TokenStore) error {
					toks, err = ts.ListTokens(cmd.Context(), &store.ListTokensParams{})
					return err
				})
			} else {
				toks, err = g.client().Tokens(cmd.Context())
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, toks)
			}
			return printTokens(m.Stdout, toks)
		},
	}

	revoke := &cobra.Command{
		Use: "revoke NAME", Short: "Revoke a token: it stops working at once", Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var tok *store.Token
			var err error
			if db.db != "" {
				err = m.withTokenStore(cmd.Context(), db, func(ts store.TokenStore) error {
					tok, err = ts.RevokeToken(cmd.Context(), &store.RevokeTokenParams{Name: args[0]})
					return err
				})
			} else {
				tok, err = g.client().RevokeToken(cmd.Context(), args[0])
			}
			if err != nil {
				return err
			}
			if g.json {
				return printJSON(m.Stdout, tok)
			}
			fmt.Fprintf(m.Stdout, "token %s revoked\n", tok.Name)
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// withTokenStore runs fn on the tokens of the database db names.
func (m *Main) withTokenStore(ctx context.Context, db dbOptions, fn func(store.TokenStore) error) error {
	st, err := db.open(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	ts, ok := st.(store.TokenStore)
	if !ok {
		return fmt.Errorf("the store %T keeps no tokens", st)
	}
	return fn(ts)
}

func printTokens(w io.Writer, toks []*store.Token) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST USED\tREVOKED")
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.Local().Format(time.DateTime)
	}
	for _, t := range toks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, t.Created.Local().Format(time.DateTime), when(t.LastUsed), when(t.Revoked))
	}
	return tw.Flush()
}
