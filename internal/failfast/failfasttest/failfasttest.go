// Package failfasttest gives tests a Temporal client whose server has gone
// away, the state in which the SDK retries every call until its deadline.
package failfasttest

import (
	"context"
	"net"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"

	"github.com/rapporthq/rapport/internal/failfast"
)

// frontend answers what the SDK's client asks to connect, and signals, as
// Temporal's frontend does.
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
}

func (frontend) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{Capabilities: &workflowservice.GetSystemInfoResponse_Capabilities{}}, nil
}

func (frontend) SignalWorkflowExecution(context.Context, *workflowservice.SignalWorkflowExecutionRequest) (*workflowservice.SignalWorkflowExecutionResponse, error) {
	return &workflowservice.SignalWorkflowExecutionResponse{}, nil
}

// GoneAway returns a Temporal client, with failfast's interceptor, that
// connected to a server over gRPC and signalled through it, after that
// server has stopped. It is closed when the test ends.
func GoneAway(t testing.TB) client.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	workflowservice.RegisterWorkflowServiceServer(srv, frontend{})
	go func() { _ = srv.Serve(l) }()
	c, err := client.NewLazyClient(client.Options{HostPort: l.Addr().String(),
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{failfast.DialOption()}}})
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.NoError(t, c.SignalWorkflow(context.Background(), "wf", "", "signal", nil), "the client connects")
	srv.Stop()
	return c
}
