package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// proc is a child process the driver keeps running, starting it again
// after it exits (as an orchestrator restarts a crashed container) until
// it is stopped.
type proc struct {
	name    string
	path    string
	args    []string
	env     []string
	logPath string
	logf    func(format string, args ...any)

	mu       sync.Mutex
	cmd      *exec.Cmd
	stopping bool
	starts   int
	done     chan struct{}
}

// run starts the process and keeps it running until stop.
func (p *proc) run() error {
	p.done = make(chan struct{})
	exited, err := p.start()
	if err != nil {
		return err
	}
	go func() {
		defer close(p.done)
		for {
			err := <-exited
			p.mu.Lock()
			stopping := p.stopping
			p.mu.Unlock()
			if stopping {
				return
			}
			p.logf("%s exited (%v); starting it again in 1s", p.name, err)
			time.Sleep(time.Second)
			for {
				p.mu.Lock()
				stopping = p.stopping
				p.mu.Unlock()
				if stopping {
					return
				}
				if exited, err = p.start(); err == nil {
					break
				}
				p.logf("%s: %v; trying again", p.name, err)
				time.Sleep(time.Second)
			}
		}
	}()
	return nil
}

func (p *proc) start() (chan error, error) {
	lf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = lf, lf
	// Its own process group, so Ctrl-C reaches the driver only, which
	// stops everything in order; and it dies with the driver.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); lf.Close() }()
	p.mu.Lock()
	p.cmd = cmd
	p.starts++
	p.mu.Unlock()
	return exited, nil
}

// kill sends SIGKILL to the running process; run starts it again.
func (p *proc) kill() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("%s is not running", p.name)
	}
	return p.cmd.Process.Kill()
}

// stop ends the process for good: SIGTERM, then SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	p.mu.Lock()
	p.stopping = true
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || p.done == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-p.done
	}
}

// waitHTTP waits until url answers 200, or ctx ends.
func waitHTTP(ctx context.Context, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		if ok(ctx, url) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer within %s", url, within)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
