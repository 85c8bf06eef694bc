package devmode

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// CheckPorts fails early, naming the flag, when a port is taken.
func CheckPorts(opts Options) error {
	for _, p := range []struct {
		port       int
		what, flag string
	}{
		{opts.TemporalPort, "Temporal", "--temporal-port"},
		{opts.UIPort, "the Temporal UI", "--ui-port"},
		{opts.APIPort, "the API", "--port"},
		{opts.FakesPort, "the fake providers", "--fakes-port"},
		{opts.OpsPort, "/healthz, /readyz and /metrics", "--ops-port"},
	} {
		if p.port <= 0 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(opts.IP, strconv.Itoa(p.port)))
		if err != nil {
			return fmt.Errorf("port %d, for %s, is taken (is another rapport dev or Temporal running?); stop it or choose another port with %s", p.port, p.what, p.flag)
		}
		l.Close()
	}
	return nil
}

func listen(ip string, port int, what string) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("%s: port %d is taken (%w); stop what holds it or pick another port with a flag", what, port, err)
	}
	return l, nil
}

// serve serves srv on l until Stop.
func (s *Stack) serve(srv *http.Server, l net.Listener) {
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.Log.Error("server stopped", "addr", l.Addr().String(), "error", err)
		}
	}()
}
