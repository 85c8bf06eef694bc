package devstack

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/rapporthq/rapport/internal/temporalsetup"
)

// TestTemporalWithUIAndFileState starts the server as `rapport dev` does
// (SQLite file, web UI, search attributes), restarts it on the same file,
// and adds a search attribute on the second start.
func TestTemporalWithUIAndFileState(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dbFile := filepath.Join(t.TempDir(), "state", "temporal.db")
	attrs := map[string]enumspb.IndexedValueType{"RapportJourney": enumspb.INDEXED_VALUE_TYPE_KEYWORD}

	srv, err := StartTemporal(ctx, TemporalOptions{DatabaseFile: dbFile, SearchAttributes: attrs})
	require.NoError(t, err)
	require.NotEmpty(t, srv.UIURL())
	resp, err := http.Get(srv.UIURL())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), "<html")
	addr := srv.Address()
	srv.Stop()

	attrs["RapportStatus"] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	srv, err = StartTemporal(ctx, TemporalOptions{DatabaseFile: dbFile, UIPort: -1, SearchAttributes: attrs})
	require.NoError(t, err)
	defer srv.Stop()
	assert.Empty(t, srv.UIURL())
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Logger: quietSDKLogger{}})
	require.NoError(t, err)
	defer c.Close()
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	require.NoError(t, err)
	assert.Contains(t, list.GetCustomAttributes(), "RapportJourney")
	assert.Contains(t, list.GetCustomAttributes(), "RapportStatus", "added on a later start")
	assert.NotEqual(t, "", addr)

	_, err = temporalsetup.EnsureSearchAttributes(ctx, c, "default", map[string]enumspb.IndexedValueType{"RapportJourney": enumspb.INDEXED_VALUE_TYPE_TEXT})
	assert.ErrorContains(t, err, "exists with type")
}

func TestPortInUse(t *testing.T) {
	ctx := context.Background()
	srv, err := StartTemporal(ctx, TemporalOptions{UIPort: -1})
	require.NoError(t, err)
	defer srv.Stop()
	_, port, _ := splitHostPort(srv.Address())
	_, err = StartTemporal(ctx, TemporalOptions{FrontendPort: port, UIPort: -1})
	assert.ErrorContains(t, err, "already in use")
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	return host, port, err
}

// TestAServicePortTakenMeanwhile: another process takes the port chosen
// for a service behind the frontend before the server binds it. The
// server cannot listen there; it used to go on without a listener and
// crash the process a moment later. Now it starts again on other ports.
func TestAServicePortTakenMeanwhile(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	handedOut := 0
	opts := TemporalOptions{UIPort: -1, pickPort: func(ip string) (int, error) {
		handedOut++
		if handedOut == 1 {
			return taken.Addr().(*net.TCPAddr).Port, nil
		}
		return freePort(ip)
	}}
	srv, err := StartTemporal(context.Background(), opts)
	require.NoError(t, err)
	defer srv.Stop()
	assert.Greater(t, handedOut, 3, "ports were chosen again")
	c, err := client.Dial(client.Options{HostPort: srv.Address(), Namespace: srv.Namespace()})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.CheckHealth(context.Background(), &client.CheckHealthRequest{})
	assert.NoError(t, err, "the server that started serves")
}
