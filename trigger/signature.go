package trigger

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook signatures. Two schemes, both HMAC-SHA256 over the raw request
// body with a secret shared with the sender:
//
//   - GitHub style, header X-Hub-Signature-256: "sha256=<hex>". Simple and
//     widely produced, but a captured request can be replayed.
//   - Timestamped (Stripe style), header Loom-Signature:
//     "t=<unix seconds>,v1=<hex>", the MAC taken over "<t>.<body>". The
//     receiver rejects timestamps outside a tolerance, so a captured request
//     stops working within minutes. Several v1 entries may be sent while a
//     secret is being rotated; one matching is enough.
const (
	// SignatureHeader is where GitHub-style senders put their signature.
	SignatureHeader = "X-Hub-Signature-256"
	// TimestampedSignatureHeader is where timestamped signatures go.
	TimestampedSignatureHeader = "Loom-Signature"
	// DefaultTolerance is VerifyTimestamped's tolerance when it is zero:
	// how far a signature's timestamp may be from now, either way.
	DefaultTolerance = 5 * time.Minute
)

var (
	// ErrInvalidSignature is wrapped by every verification failure except
	// an expired timestamp: missing, malformed or wrong signatures. The API
	// answers 401.
	ErrInvalidSignature = errors.New("invalid webhook signature")
	// ErrSignatureExpired is wrapped when a timestamped signature is valid
	// but outside the tolerance: a replay, or a badly wrong clock.
	ErrSignatureExpired = errors.New("webhook signature timestamp outside tolerance")
	// errNoSecret refuses to verify with an empty secret, which would
	// accept anything signed with an empty key.
	errNoSecret = errors.New("webhook secret is empty")
)

func mac(secret []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, secret)
	for _, p := range parts {
		_, _ = h.Write(p)
	}
	return h.Sum(nil)
}

// Sign returns the GitHub-style header value for body: "sha256=<hex>".
func Sign(secret, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, body))
}

// VerifySignature checks a GitHub-style header value ("sha256=<hex>")
// against body in constant time.
func VerifySignature(secret, body []byte, header string) error {
	if len(secret) == 0 {
		return fmt.Errorf("verify signature: %w", errNoSecret)
	}
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), "sha256=")
	if !ok {
		return fmt.Errorf("%w: want \"sha256=<hex>\"", ErrInvalidSignature)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: signature is not 64 hex digits", ErrInvalidSignature)
	}
	if !hmac.Equal(got, mac(secret, body)) {
		return fmt.Errorf("%w: mismatch", ErrInvalidSignature)
	}
	return nil
}

// SignTimestamped returns the timestamped header value for body signed at
// t: "t=<unix>,v1=<hex>".
func SignTimestamped(secret, body []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, []byte(ts), []byte("."), body))
}

// VerifyTimestamped checks a timestamped header value against body: some
// v1 signature must match "<t>.<body>" (in constant time) and t must lie
// within tolerance of now (default DefaultTolerance). now comes from the
// caller's clock, so tests need no sleeping.
func VerifyTimestamped(secret, body []byte, header string, now time.Time, tolerance time.Duration) error {
	if len(secret) == 0 {
		return fmt.Errorf("verify signature: %w", errNoSecret)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return fmt.Errorf("%w: malformed element %q", ErrInvalidSignature, truncate(part))
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: more than one timestamp", ErrInvalidSignature)
			}
			ts = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				return fmt.Errorf("%w: v1 is not 64 hex digits", ErrInvalidSignature)
			}
			sigs = append(sigs, sig)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || ts == "" {
		return fmt.Errorf("%w: want \"t=<unix seconds>,v1=<hex>\"", ErrInvalidSignature)
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: no v1 signature", ErrInvalidSignature)
	}
	want := mac(secret, []byte(ts), []byte("."), body)
	matched := false
	for _, sig := range sigs {
		matched = hmac.Equal(sig, want) || matched
	}
	if !matched {
		return fmt.Errorf("%w: mismatch", ErrInvalidSignature)
	}
	if skew := now.Sub(time.Unix(unix, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: signed at %s, %s from now", ErrSignatureExpired, time.Unix(unix, 0).UTC().Format(time.RFC3339), skew.Round(time.Second))
	}
	return nil
}

// SignedAt returns the timestamp of a timestamped header value; ok is false
// when it has none. Call it on a header VerifyTimestamped accepted.
func SignedAt(header string) (t time.Time, ok bool) {
	for part := range strings.SplitSeq(header, ",") {
		if v, found := strings.CutPrefix(strings.TrimSpace(part), "t="); found {
			unix, err := strconv.ParseInt(v, 10, 64)
			return time.Unix(unix, 0), err == nil
		}
	}
	return time.Time{}, false
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
