// Package failfast lets a caller give up on Temporal the moment it cannot
// be reached, instead of waiting while the Temporal SDK retries.
//
// The SDK retries a call that finds no server (gRPC Unavailable: the
// server is stopped, restarting, or refuses connections) until the
// context's deadline, ten seconds and more without one. That is right for
// a worker, wrong for an answer a caller waits for, such as POST
// /v1/events, which stores the event first and can leave its routing to
// the sweeper. Under a context from WithContext, the first attempt that
// finds no server ends the call at once: Interceptor, installed on the
// client with DialOption, cancels the context with ErrUnreachable as its
// cause.
package failfast

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrUnreachable is the cause of a context ended because Temporal could
// not be reached (context.Cause).
var ErrUnreachable = errors.New("cannot reach Temporal")

type cancelKey struct{}

// WithContext returns a context that Interceptor cancels, with a cause
// wrapping ErrUnreachable, as soon as a call made under it finds no
// Temporal server; calls that reach the server, whatever they answer,
// leave it alone. Call cancel when done.
func WithContext(parent context.Context) (ctx context.Context, cancel context.CancelFunc) {
	ctx, cancelCause := context.WithCancelCause(parent)
	ctx = context.WithValue(ctx, cancelKey{}, cancelCause)
	return ctx, func() { cancelCause(context.Canceled) }
}

// Unreachable reports whether ctx ended because Temporal could not be
// reached.
func Unreachable(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrUnreachable)
}

// Interceptor sees each attempt of each call (it runs inside the SDK's
// retries) and ends the context of a WithContext caller when an attempt
// finds no server.
func Interceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if status.Code(err) == codes.Unavailable {
			if cancel, ok := ctx.Value(cancelKey{}).(context.CancelCauseFunc); ok {
				cancel(fmt.Errorf("%w: %s", ErrUnreachable, status.Convert(err).Message()))
			}
		}
		return err
	}
}

// DialOption installs Interceptor on a Temporal client: append it to
// client.Options.ConnectionOptions.DialOptions. The SDK chains it after
// its own interceptors, so it sees every attempt.
func DialOption() grpc.DialOption {
	return grpc.WithChainUnaryInterceptor(Interceptor())
}
