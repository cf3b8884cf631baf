package bench

import (
	"context"
	"sync"
	"time"
)

// errBackoff keeps a client whose calls fail at once (its node is down)
// from spinning; it is short next to any failover time worth measuring.
const errBackoff = 10 * time.Millisecond

// opFunc is one benchmark operation by client i.
type opFunc func(ctx context.Context, c Client, i int) error

// phaseOut is what one throughput phase measured.
type phaseOut struct {
	OK       int
	Errors   int
	FirstErr string
	Lat      []time.Duration // of ok ops that completed inside the phase
}

// runPhase runs op in a closed loop on every client (each waits for its
// answer before the next call: unlimited rate, concurrency = clients) until
// dur has passed, ctx ends or maxOps operations were issued. Operations
// that complete after the deadline are not counted, so OK/dur is the
// throughput over exactly dur.
func runPhase(ctx context.Context, clients []Client, op opFunc, dur, opTimeout time.Duration, maxOps int, clk Clock) phaseOut {
	perClient := max(1, (maxOps+len(clients)-1)/len(clients))
	end := clk.Now().Add(dur)
	var (
		mu  sync.Mutex
		out phaseOut
		wg  sync.WaitGroup
	)
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine phaseOut
			mine.Lat = make([]time.Duration, 0, 1024)
			for n := 0; n < perClient && ctx.Err() == nil; n++ {
				invoke := clk.Now()
				if !invoke.Before(end) {
					break
				}
				octx, cancel := context.WithTimeout(ctx, opTimeout)
				err := op(octx, c, i)
				cancel()
				done := clk.Now()
				if done.After(end) {
					break
				}
				if err != nil {
					mine.Errors++
					if mine.FirstErr == "" {
						mine.FirstErr = err.Error()
					}
					_ = clk.Sleep(ctx, errBackoff)
					continue
				}
				mine.OK++
				mine.Lat = append(mine.Lat, done.Sub(invoke))
			}
			mu.Lock()
			defer mu.Unlock()
			out.OK += mine.OK
			out.Errors += mine.Errors
			if out.FirstErr == "" {
				out.FirstErr = mine.FirstErr
			}
			out.Lat = append(out.Lat, mine.Lat...)
		}()
	}
	wg.Wait()
	return out
}

// PhaseResult is one phase of one run.
type PhaseResult struct {
	OK        int        `json:"ok"`
	Errors    int        `json:"errors"`
	FirstErr  string     `json:"first_error,omitempty"`
	Seconds   float64    `json:"seconds"`
	OpsPerSec float64    `json:"ops_per_sec"`
	Latency   Latency    `json:"latency"`
	CDF       []CDFPoint `json:"cdf,omitempty"`
}

func phaseResult(p phaseOut, dur time.Duration) PhaseResult {
	return PhaseResult{
		OK: p.OK, Errors: p.Errors, FirstErr: p.FirstErr,
		Seconds:   dur.Seconds(),
		OpsPerSec: float64(p.OK) / dur.Seconds(),
		Latency:   summarize(p.Lat),
		CDF:       cdf(p.Lat),
	}
}
