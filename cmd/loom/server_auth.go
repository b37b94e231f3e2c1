package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/store"
)

// loopback reports whether ln listens only where this machine alone can
// reach it.
func loopback(ln net.Listener) bool {
	tcp, ok := ln.Addr().(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// serverAuth makes the server's Authenticator over st's tokens.
func serverAuth(st store.Store, required bool) *auth.Authenticator {
	ts, _ := st.(store.TokenStore)
	return auth.New(auth.Config{Tokens: ts, Required: required})
}

// checkListen refuses to serve on an address other machines can reach
// while authentication is off: anyone there could run tasks. The address
// checked is the one actually bound, so a host name or ":7070" counts for
// what it resolved to. --insecure-no-auth allows it, with a warning at
// every start.
func checkListen(ctx context.Context, ln net.Listener, a *auth.Authenticator, insecure bool, db string, logger *slog.Logger) error {
	on, err := a.Enabled(ctx)
	if err != nil {
		return err
	}
	if insecure {
		logger.Warn("--insecure-no-auth: the server may listen beyond loopback without authentication; anyone who reaches it can run tasks",
			"addr", ln.Addr().String(), "auth", on)
	}
	if on || insecure || loopback(ln) {
		return nil
	}
	return fmt.Errorf("refusing to listen on %s without authentication: anyone who reaches it could run tasks; "+
		"make an admin token first (loom tokens create NAME --role admin --db %s), "+
		"listen on 127.0.0.1, or pass --insecure-no-auth", ln.Addr(), db)
}
