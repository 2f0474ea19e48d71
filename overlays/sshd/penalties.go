package sshd

import (
	"fmt"

	"github.com/kiln-dev/kiln/internal/valid"
	"github.com/kiln-dev/kiln/overlays"
)

// BruteForce is the SSH brute-force policy in fail2ban's terms, which the
// spec keeps (ssh.fail2ban): MaxRetry failed logins within FindTime shut a
// source out for BanTime. sshd enforces it itself with PerSourcePenalties
// (OpenSSH 9.8 and later), so no container, no capability and no image is
// needed for it.
type BruteForce struct {
	// BanTime is how long a source is refused, in seconds.
	BanTime int
	// FindTime is the window failures are counted in, in seconds.
	FindTime int
	// MaxRetry failed logins within FindTime shut the source out.
	MaxRetry int
	// Exempt lists addresses and networks never shut out
	// (PerSourcePenaltyExemptList; fail2ban's ignoreip).
	Exempt []string
}

// Penalties are the PerSourcePenalties values, in seconds.
type Penalties struct {
	// AuthFail is added for a connection that failed to authenticate.
	AuthFail int
	// NoAuth is added for a connection that never tried to: on OpenSSH
	// before 10.3 that includes every try at a user sshd does not admit.
	NoAuth int
	// InvalidUser is added, from OpenSSH 10.3, for a try at a user sshd
	// does not admit.
	InvalidUser int
	// Grace is added for a connection that sat out LoginGraceTime.
	Grace int
	// Crash is added for a connection that crashed sshd's session.
	Crash int
	// Min is what a source must hold before it is refused.
	Min int
	// Max caps what a source can hold.
	Max int
}

// Penalties maps the policy onto sshd's model, which is a leaky bucket
// rather than fail2ban's window: each penalised connection adds its
// penalty to the source's account, the account drains by one second per
// second, and while it holds more than min the source is refused
// (srclimit.c, srclimit_penalise: a source is activated when "expiry -
// now > penalty_min", the account is capped at penalty_max; read in
// OpenSSH 9.8 to 10.0). Hence, with a the penalty of one failure:
//
//   - min = (MaxRetry-1)·a: MaxRetry-1 failures in a row never reach it,
//     MaxRetry failures within a seconds exceed it;
//   - a = BanTime/MaxRetry, rounded up: the account a burst of MaxRetry
//     failures leaves, and so the time the source is refused, is BanTime;
//   - but a is at least FindTime+1, so that MaxRetry failures spread over
//     FindTime still exceed min (n·a − elapsed > (n−1)·a needs elapsed <
//     a). When BanTime < MaxRetry·FindTime the ban then lasts
//     MaxRetry·(FindTime+1) instead: one bucket cannot hold both numbers,
//     and kiln keeps the stricter;
//   - max = MaxRetry·a: a source that keeps failing stays refused, never
//     for longer than one ban.
//
// What counts as a failure is what fail2ban's aggressive sshd filter,
// kiln's former jail, counted: a failed login (authfail), a login as a
// user sshd does not admit, a connection that never tries to log in or
// sits out LoginGraceTime. The second matters most and is easy to miss:
// before OpenSSH 10.3 (which added invaliduser) sshd-session leaves a try
// at root or any user outside AllowUsers without the "auth attempted"
// exit status (monitor.c sets it only for requests the monitor answers),
// so the listener books it as noauth, 1 s by default; left there, the
// bots that try root would never be shut out. The price is that
// ssh-keyscan and TCP port checks count too, as they did for fail2ban. A
// crash of sshd's session bans at once (crash = max > min). Failures are
// counted per connection, not per key tried: MaxAuthTries bounds the
// tries within one.
func (b BruteForce) Penalties() Penalties {
	a := max((b.BanTime+b.MaxRetry-1)/b.MaxRetry, b.FindTime+1)
	return Penalties{AuthFail: a, NoAuth: a, InvalidUser: a, Grace: a, Crash: b.MaxRetry * a,
		Min: (b.MaxRetry - 1) * a, Max: b.MaxRetry * a}
}

// Validate reports the first value out of range, naming its field.
func (b BruteForce) Validate() error {
	for _, r := range []struct {
		field     string
		v, lo, hi int
	}{
		{"bantime", b.BanTime, 60, 365 * 86400},
		{"findtime", b.FindTime, 10, 7 * 86400},
		{"maxretry", b.MaxRetry, 1, 100},
	} {
		if r.v < r.lo || r.v > r.hi {
			return &overlays.FieldError{Field: "brute_force." + r.field, Value: r.v,
				Err: fmt.Errorf("not in %d..%d: %w", r.lo, r.hi, ErrRange)}
		}
	}
	for i, n := range b.Exempt {
		if err := valid.Network(n); err != nil {
			return &overlays.FieldError{Field: fmt.Sprintf("brute_force.ignoreip[%d]", i), Value: n, Err: err}
		}
	}
	return nil
}

// directive is the PerSourcePenalties line's argument for OpenSSH v,
// which refuses keywords newer than itself.
func (p Penalties) directive(v OpenSSH) string {
	d := fmt.Sprintf("authfail:%ds noauth:%ds grace-exceeded:%ds crash:%ds min:%ds max:%ds", p.AuthFail, p.NoAuth, p.Grace, p.Crash, p.Min, p.Max)
	if v.AtLeast(invalidUserSince) {
		d += fmt.Sprintf(" invaliduser:%ds", p.InvalidUser)
	}
	return d
}
