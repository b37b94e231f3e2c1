package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ClusterStore is what the servers sharing one database know of each
// other: which are up (each records its heartbeat) and which one leads,
// through a lease on a named role that one server holds at a time and
// must renew before it lapses. The leader runs the work that must run
// once (cron schedules, backfills, checks, the reaper, alert delivery).
// A backend implements it beside Store, on the same database; with one
// server it is the same contract, won at once.
//
// Times come from the servers' clocks, as task leases do, so servers must
// agree on the time to well within a lease.
type ClusterStore interface {
	// UpsertServer records a server's presence and heartbeat. A zero
	// Started keeps the Started first recorded (or LastHeartbeat for a
	// new server). ErrInvalid when ID is empty.
	UpsertServer(ctx context.Context, s ServerInfo) error
	// ListServers returns the servers whose last heartbeat is at or after
	// seenSince, by id.
	ListServers(ctx context.Context, seenSince time.Time) ([]ServerInfo, error)
	// DeleteServer forgets a server that shut down, or ErrNotFound.
	DeleteServer(ctx context.Context, id string) error

	// CampaignLeader makes p.Holder the leader of p.Role until
	// p.LeaseUntil when nobody leads the role, when p.Holder leads it
	// already (its lease is renewed, its Since and Term kept), or when
	// the leader's lease lapsed at or before p.Now (a new term begins:
	// Term goes up by one and Since is p.Now). Otherwise it changes
	// nothing. Either way it returns the leader after the call; whether
	// p.Holder won is Leader.Holder == p.Holder. Two servers campaigning
	// at once never both win. ErrInvalid when Role or Holder is empty or
	// LeaseUntil is not after Now.
	CampaignLeader(ctx context.Context, p *CampaignLeaderParams) (*Leader, error)
	// ResignLeader ends holder's lease on role at once (a clean
	// shutdown), so that another server may take the lead without
	// waiting for it to lapse. It does nothing when holder does not lead
	// the role.
	ResignLeader(ctx context.Context, role, holder string) error
	// GetLeader returns the leader of role as recorded, whose lease may
	// have lapsed (LeaseUntil) or been resigned (Holder empty), or
	// ErrNotFound when nobody ever led it.
	GetLeader(ctx context.Context, role string) (*Leader, error)
}

// ServerInfo is what the store knows of one server.
type ServerInfo struct {
	// ID identifies the server, unique among those sharing the database.
	ID string `json:"id"`
	// Hostname is the machine it runs on.
	Hostname string `json:"hostname"`
	// Addr is the address its API listens on, as it reported it.
	Addr string `json:"addr"`
	// Started is when it started; LastHeartbeat when it last said it is up.
	Started       time.Time `json:"started"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// CampaignLeaderParams ask for the lead of a role.
type CampaignLeaderParams struct {
	// Role names what is led; servers campaigning for one role elect one
	// leader.
	Role string
	// Holder is the server campaigning.
	Holder string
	// Now is the campaigner's time; LeaseUntil is when its lead lapses
	// unless renewed.
	Now        time.Time
	LeaseUntil time.Time
}

// Leader is the recorded leader of a role.
type Leader struct {
	// Role is what is led.
	Role string `json:"role"`
	// Holder is the leading server; empty once it resigned.
	Holder string `json:"holder"`
	// Since is when Holder took the lead.
	Since time.Time `json:"since"`
	// LeaseUntil is when the lead lapses unless renewed.
	LeaseUntil time.Time `json:"lease_until"`
	// Term counts the changes of leader: it goes up by one each time
	// another server (or the same one after a lapse or resignation) takes
	// the lead.
	Term int64 `json:"term"`
}

// Leads reports whether l names holder as the leader at now: holder
// holds the lease and it has not lapsed.
func (l *Leader) Leads(holder string, now time.Time) bool {
	return l != nil && l.Holder != "" && l.Holder == holder && now.Before(l.LeaseUntil)
}

// ValidateCampaign checks p as every backend's CampaignLeader does: a
// role, a holder, and a lease that ends after now. Its errors wrap
// ErrInvalid.
func ValidateCampaign(p *CampaignLeaderParams) error {
	var errs []error
	if p.Role == "" {
		errs = append(errs, errors.New("empty role"))
	}
	if p.Holder == "" {
		errs = append(errs, errors.New("empty holder"))
	}
	if !p.LeaseUntil.After(p.Now) {
		errs = append(errs, fmt.Errorf("lease until %s is not after now (%s)", p.LeaseUntil, p.Now))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("campaign for leader: %w: %w", ErrInvalid, err)
	}
	return nil
}
