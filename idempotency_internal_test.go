package loom

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	in := Values{"id": 7}
	derived, err := DeriveIdempotencyKey("charge", in)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	tests := []struct {
		name    string
		idem    *Idempotency
		want    string
		wantErr error
	}{
		{"nil derives the default key", nil, derived, nil},
		{"nil Key derives the default key", &Idempotency{Window: time.Hour}, derived, nil},
		{"Key is used as given", &Idempotency{Key: func(in Values) (string, error) { return "order-7", nil }}, "order-7", nil},
		{"Key's error is wrapped", &Idempotency{Key: func(Values) (string, error) { return "", boom }}, "", boom},
		{"empty key is an error", &Idempotency{Key: func(Values) (string, error) { return "", nil }}, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.idem.key("charge", in)
			switch {
			case tt.want != "":
				if err != nil || got != tt.want {
					t.Errorf("key = %q, %v; want %q", got, err, tt.want)
				}
			case err == nil:
				t.Errorf("key = %q; want an error", got)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v; want it to wrap %v", err, tt.wantErr)
			case !strings.Contains(err.Error(), "charge"):
				t.Errorf("err = %v; want it to name the task", err)
			}
		})
	}
}

func TestIdempotencyWithDefaults(t *testing.T) {
	t.Parallel()
	keyFn := func(Values) (string, error) { return "k", nil }
	tests := []struct {
		name                string
		in                  *Idempotency
		wantWindow, wantTTL time.Duration
		wantPolicy          FailureKeyPolicy
	}{
		{"nil", nil, 24 * time.Hour, 15 * time.Minute, ReleaseOnFailure},
		{"zero", &Idempotency{}, 24 * time.Hour, 15 * time.Minute, ReleaseOnFailure},
		{"negative", &Idempotency{Window: -1, LockTTL: -1}, 24 * time.Hour, 15 * time.Minute, ReleaseOnFailure},
		{"set", &Idempotency{Window: time.Hour, LockTTL: time.Minute, OnFailure: KeepOnFailure, Key: keyFn},
			time.Hour, time.Minute, KeepOnFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var before Idempotency
			if tt.in != nil {
				before = *tt.in
			}
			got := tt.in.withDefaults()
			if got.Window != tt.wantWindow || got.LockTTL != tt.wantTTL || got.OnFailure != tt.wantPolicy {
				t.Errorf("withDefaults = %+v", got)
			}
			if tt.in == nil {
				return
			}
			if got == tt.in {
				t.Error("withDefaults returned its receiver, want a copy")
			}
			if tt.in.Window != before.Window || tt.in.LockTTL != before.LockTTL {
				t.Errorf("withDefaults changed its receiver: %+v", tt.in)
			}
			if (got.Key == nil) != (tt.in.Key == nil) {
				t.Error("withDefaults lost Key")
			}
		})
	}
}
