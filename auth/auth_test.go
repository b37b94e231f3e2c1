package auth_test

import (
	"errors"
	"regexp"
	"testing"

	"github.com/loomhq/loom/auth"
	"github.com/loomhq/loom/store"
)

func TestRoleAllows(t *testing.T) {
	t.Parallel()
	want := map[auth.Role][]auth.Role{ // need → the roles allowed
		auth.Public:   {auth.Admin, auth.Operator, auth.Viewer, auth.Worker},
		auth.Viewer:   {auth.Admin, auth.Operator, auth.Viewer},
		auth.Operator: {auth.Admin, auth.Operator},
		auth.Admin:    {auth.Admin},
		auth.Worker:   {auth.Admin, auth.Worker},
		"":            {},
	}
	for need, ok := range want {
		for _, r := range auth.Roles {
			in := false
			for _, o := range ok {
				in = in || o == r
			}
			if got := r.Allows(need); got != in {
				t.Errorf("%s.Allows(%q) = %v, want %v", r, need, got, in)
			}
		}
	}
}

func TestParseRole(t *testing.T) {
	t.Parallel()
	for _, r := range auth.Roles {
		if got, err := auth.ParseRole(string(r)); err != nil || got != r {
			t.Errorf("ParseRole(%s) = %s, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "public", "Admin", "root"} {
		if _, err := auth.ParseRole(s); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ParseRole(%q) = %v, want ErrInvalid", s, err)
		}
	}
}

func TestSecretAndHash(t *testing.T) {
	t.Parallel()
	a, b := auth.NewSecret(), auth.NewSecret()
	if !regexp.MustCompile(`^loom_[A-Za-z0-9_-]{43}$`).MatchString(a) || a == b {
		t.Fatalf("secrets %q %q", a, b)
	}
	if h := auth.Hash(a); !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) || h == auth.Hash(b) || h != auth.Hash(a) {
		t.Fatalf("hash %q", h)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Bearer loom_x":   "loom_x",
		"bearer  loom_x ": "loom_x",
		"Basic abc":       "",
		"loom_x":          "",
		"":                "",
	} {
		if got := auth.BearerToken(in); got != want {
			t.Errorf("BearerToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"ci": true, "deploy-bot.prod_1": true, "": false, "a b": false, "a/b": false, "é": false,
		"0123456789012345678901234567890123456789012345678901234567890123":  true,
		"01234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := auth.ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v", name, got)
		}
	}
}

func TestActor(t *testing.T) {
	t.Parallel()
	if got := auth.Actor(t.Context()); got != "" {
		t.Fatalf("Actor = %q", got)
	}
	ctx := auth.WithPrincipal(t.Context(), &auth.Principal{Name: "ci", Role: auth.Operator})
	if got := auth.Actor(ctx); got != "ci" {
		t.Fatalf("Actor = %q", got)
	}
}
