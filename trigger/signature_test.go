package trigger_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loomhq/loom/loomtest"
	"github.com/loomhq/loom/trigger"
)

var (
	secret = []byte("s3cret")
	body   = []byte(`{"type":"order.created","data":{"id":42}}`)
)

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	good := trigger.Sign(secret, body)
	require.True(t, strings.HasPrefix(good, "sha256="))
	// The documented GitHub example: secret "It's a Secret to Everybody",
	// payload "Hello, World!".
	require.Equal(t, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		trigger.Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!")))

	tests := []struct {
		name   string
		secret []byte
		body   []byte
		header string
		ok     bool
	}{
		{"valid", secret, body, good, true},
		{"valid, upper-case hex", secret, body, "sha256=" + strings.ToUpper(strings.TrimPrefix(good, "sha256=")), true},
		{"tampered body", secret, append([]byte{}, append(body, ' ')...), good, false},
		{"wrong secret", []byte("other"), body, good, false},
		{"tampered signature", secret, body, good[:len(good)-1] + "0", false},
		{"missing", secret, body, "", false},
		{"other algorithm", secret, body, "sha1=" + strings.TrimPrefix(good, "sha256="), false},
		{"not hex", secret, body, "sha256=zz", false},
		{"short", secret, body, good[:20], false},
	}
	for _, tt := range tests {
		err := trigger.VerifySignature(tt.secret, tt.body, tt.header)
		if tt.ok {
			require.NoError(t, err, tt.name)
			continue
		}
		require.ErrorIs(t, err, trigger.ErrInvalidSignature, tt.name)
	}
	require.Error(t, trigger.VerifySignature(nil, body, good), "an empty secret verifies nothing")
}

func TestVerifyTimestamped(t *testing.T) {
	t.Parallel()
	clock := loomtest.NewFakeClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	signedAt := clock.Now()
	header := trigger.SignTimestamped(secret, body, signedAt)
	require.Equal(t, "t=1780315200,", header[:13])

	require.NoError(t, trigger.VerifyTimestamped(secret, body, header, clock.Now(), 0))
	clock.Advance(4 * time.Minute)
	require.NoError(t, trigger.VerifyTimestamped(secret, body, header, clock.Now(), 0), "within the default 5 minutes")

	clock.Advance(2 * time.Minute)
	err := trigger.VerifyTimestamped(secret, body, header, clock.Now(), 0)
	require.ErrorIs(t, err, trigger.ErrSignatureExpired, "a replay six minutes later")
	require.False(t, errors.Is(err, trigger.ErrInvalidSignature))
	require.NoError(t, trigger.VerifyTimestamped(secret, body, header, clock.Now(), 10*time.Minute), "a wider tolerance")

	future := trigger.SignTimestamped(secret, body, clock.Now().Add(time.Hour))
	require.ErrorIs(t, trigger.VerifyTimestamped(secret, body, future, clock.Now(), 0), trigger.ErrSignatureExpired)

	now := clock.Now()
	fresh := trigger.SignTimestamped(secret, body, now)
	ts, sig, _ := strings.Cut(fresh, ",")
	otherSig := strings.TrimPrefix(trigger.SignTimestamped([]byte("old"), body, now), ts+",")
	invalid := []struct{ name, header string }{
		{"tampered body", ""},
		{"timestamp moved", "t=" + "1780315999," + sig},
		{"missing v1", ts},
		{"missing t", sig},
		{"empty", ""},
		{"garbage", "hello"},
		{"two timestamps", ts + "," + ts + "," + sig},
		{"bad hex", ts + ",v1=xyz"},
		{"wrong secret", ts + "," + otherSig},
	}
	for _, tt := range invalid {
		b := body
		h := tt.header
		if tt.name == "tampered body" {
			b, h = []byte(`{"type":"order.created","data":{"id":43}}`), fresh
		}
		require.ErrorIs(t, trigger.VerifyTimestamped(secret, b, h, now, 0), trigger.ErrInvalidSignature, tt.name)
	}
	// During a secret rotation the sender signs with both; one match is enough.
	require.NoError(t, trigger.VerifyTimestamped(secret, body, ts+","+otherSig+","+sig, now, 0))
	require.NoError(t, trigger.VerifyTimestamped(secret, body, " "+ts+" , "+sig+" ", now, 0))
	require.Error(t, trigger.VerifyTimestamped(nil, body, fresh, now, 0))
}
