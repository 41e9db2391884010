package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws a progress bar on one line of w while a phase runs.
// Workers count with add whether or not it draws; with a nil writer it
// only counts.
type progress struct {
	w     io.Writer
	count atomic.Int64
	stop  chan struct{}
	done  chan struct{}
	mu    sync.Mutex // serialises the writes to w
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

func (p *progress) add(n int64) { p.count.Add(n) }

// start resets the count and draws the progress of phase toward total
// messages, or toward duration when total is 0, until end.
func (p *progress) start(phase string, total int64, duration time.Duration) {
	p.end()
	p.count.Store(0)
	if p.w == nil {
		return
	}
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	begin := time.Now()
	go func(stop, done chan struct{}) {
		defer close(done)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				p.mu.Lock()
				fmt.Fprint(p.w, "\r\033[K")
				p.mu.Unlock()
				return
			case <-t.C:
				p.draw(phase, total, duration, time.Since(begin))
			}
		}
	}(p.stop, p.done)
}

func (p *progress) draw(phase string, total int64, duration, elapsed time.Duration) {
	n := p.count.Load()
	frac := 0.0
	switch {
	case total > 0:
		frac = float64(n) / float64(total)
	case duration > 0:
		frac = float64(elapsed) / float64(duration)
	}
	frac = min(max(frac, 0), 1)
	const width = 30
	fill := int(frac * width)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	rate := float64(n) / max(elapsed.Seconds(), 1e-9)
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r\033[K%-22s [%s] %3.0f%% %d msgs %.0f msg/s %.1fs", phase, bar, frac*100, n, rate, elapsed.Seconds())
}

// end stops drawing and clears the line; it is safe to call more than once.
func (p *progress) end() {
	if p.stop != nil {
		close(p.stop)
		<-p.done
		p.stop = nil
	}
}

// println writes line to w; when w is where the bar is drawn, it clears
// the bar first, which comes back at its next tick.
func (p *progress) println(w io.Writer, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if w == p.w {
		line = "\r\033[K" + line
	}
	fmt.Fprintln(w, line)
}
