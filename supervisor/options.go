package supervisor

import (
	"log/slog"
	"math/rand/v2"
	"time"
)

// An Option configures a [Supervisor]: a [Strategy], [Intensity],
// [Backoff], [Logger] or [Hook].
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

// A Strategy says which children are restarted when one of them must be,
// with Erlang/OTP's meaning. A Strategy is an [Option].
type Strategy int

const (
	// OneForOne restarts only the child that exited. It is the default.
	OneForOne Strategy = iota
	// OneForAll stops every other child, in reverse start order, then
	// starts them all again in order.
	OneForAll
	// RestForOne stops the children started after the one that exited, in
	// reverse order, then starts it and them again in order.
	RestForOne
)

// String returns "one-for-one", "one-for-all" or "rest-for-one".
func (s Strategy) String() string {
	switch s {
	case OneForOne:
		return "one-for-one"
	case OneForAll:
		return "one-for-all"
	case RestForOne:
		return "rest-for-one"
	}
	return "Strategy(?)"
}

func (s Strategy) apply(c *config) {
	if s < OneForOne || s > RestForOne {
		panic("supervisor: unknown Strategy")
	}
	c.strategy = s
}

// Defaults for [Intensity] and [Backoff]: those of suture v4 for the
// intensity (5 restarts, forgotten after 30 seconds), and a backoff that
// restarts at once after a first failure, as Erlang does.
const (
	DefaultIntensity  = 5
	DefaultPeriod     = 30 * time.Second
	DefaultBackoffMin = 100 * time.Millisecond
	DefaultBackoffMax = 10 * time.Second
)

// Intensity makes the supervisor give up when more than n restarts happen
// within period: it stops every child and [Supervisor.Serve] returns a
// *[GiveUpError]. The default is [DefaultIntensity] restarts in
// [DefaultPeriod]; Erlang's is 1 in 5 seconds. n = 0 gives up at the first
// restart; n < 0 never gives up. The supervisor keeps at most n restart
// times. Intensity panics if period <= 0.
func Intensity(n int, period time.Duration) Option {
	if period <= 0 {
		panic("supervisor: Intensity needs a positive period")
	}
	return optionFunc(func(c *config) { c.intensity, c.period = n, period })
}

// Backoff sets the delay before a child that keeps failing is restarted.
// The first restart after a quiet spell is immediate; the k-th restart in a
// row waits min·2^(k-2), capped at max, with jitter: a random delay between
// half that and all of it. A child that has not been restarted for the
// [Intensity] period starts over. Under OneForAll and RestForOne the delay
// of the child that exited applies to its whole group. Backoff(0, 0)
// restarts at once, always. The default is [DefaultBackoffMin] and
// [DefaultBackoffMax]. Backoff panics if min < 0 or max < min.
func Backoff(min, max time.Duration) Option {
	if min < 0 || max < min {
		panic("supervisor: Backoff needs 0 <= min <= max")
	}
	return optionFunc(func(c *config) { c.backoffMin, c.backoffMax = min, max })
}

// Logger sets where the supervisor logs its events (see [Event]): starts
// and readiness at debug level, normal exits and restarts at info, failures
// at warn, stuck children and giving up at error. The default is
// slog.Default() at the time of the event; a nil l logs nothing.
func Logger(l *slog.Logger) Option {
	return optionFunc(func(c *config) {
		c.logger = l
		c.loggerSet = true
	})
}

// Hook sets a function called with every [Event], for example to export
// metrics. It is called on the supervisor's own goroutine, one event at a
// time: it must not block, and must not call [Supervisor.Add] or
// [Supervisor.Remove]. If it panics, the supervisor fails: it stops its
// children and [Supervisor.Serve] returns the panic.
func Hook(f func(Event)) Option {
	return optionFunc(func(c *config) { c.hook = f })
}

// withRand replaces the jitter's source of uniform numbers in [0, 1), for
// deterministic tests.
func withRand(f func() float64) Option {
	return optionFunc(func(c *config) { c.rand = f })
}

// config holds a supervisor's settings; defaults are set by newConfig.
type config struct {
	strategy   Strategy
	intensity  int
	period     time.Duration
	backoffMin time.Duration
	backoffMax time.Duration
	logger     *slog.Logger
	loggerSet  bool
	hook       func(Event)
	rand       func() float64
}

func newConfig(opts []Option) config {
	c := config{
		strategy:   OneForOne,
		intensity:  DefaultIntensity,
		period:     DefaultPeriod,
		backoffMin: DefaultBackoffMin,
		backoffMax: DefaultBackoffMax,
		rand:       rand.Float64,
	}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}

// delay returns the backoff before the streak-th restart in a row.
func (c *config) delay(streak int) time.Duration {
	if streak <= 1 || c.backoffMax == 0 {
		return 0
	}
	d := c.backoffMax
	if shift := streak - 2; shift < 62 && c.backoffMin<<shift>>shift == c.backoffMin {
		d = min(c.backoffMin<<shift, c.backoffMax)
	}
	half := d / 2
	return half + time.Duration(c.rand()*float64(d-half))
}
