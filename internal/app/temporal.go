package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	sdklog "go.temporal.io/sdk/log"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/rapporthq/rapport/internal/codec"
	"github.com/rapporthq/rapport/internal/failfast"
	"github.com/rapporthq/rapport/internal/metrics"
	"github.com/rapporthq/rapport/internal/temporalsetup"
	"github.com/rapporthq/rapport/workflows"
)

// DialTemporal connects to Temporal with opts, logging through log, with
// failfast's interceptor (see internal/failfast). With
// keys, payloads are encrypted (and decrypted) with them; with m, the
// SDK's metrics go to m. It returns the client's data converter too (nil:
// Temporal's default), for what reads payloads the client wrote.
func DialTemporal(ctx context.Context, opts client.Options, log *slog.Logger, keys *codec.KeyRing, m *metrics.Metrics) (client.Client, converter.DataConverter, error) {
	opts.Logger = sdklog.NewStructuredLogger(log.With("component", "temporal-sdk"))
	if keys != nil {
		dc, fc, err := codec.ClientOptions(keys)
		if err != nil {
			return nil, nil, fmt.Errorf("payload codec: %w", err)
		}
		opts.DataConverter, opts.FailureConverter = dc, fc
	}
	if m != nil {
		opts.MetricsHandler = m.TemporalHandler()
	}
	// Calls made under failfast.WithContext (routing an event the API
	// answers) give up at once when Temporal cannot be reached.
	opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, failfast.DialOption())
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w; is it running (`rapport dev` starts one)? Its address is TEMPORAL_ADDRESS, or --temporal-address on the command line", opts.HostPort, opts.Namespace, err)
	}
	return c, opts.DataConverter, nil
}

// SearchAttributeTypes are Rapport's search attributes and their types,
// all Keyword: what `rapport setup temporal` registers and a worker
// requires.
func SearchAttributeTypes() map[string]enumspb.IndexedValueType {
	attrs := map[string]enumspb.IndexedValueType{}
	for _, a := range workflows.SearchAttributes {
		attrs[a.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	return attrs
}

// CheckSearchAttributes refuses a namespace that lacks one of Rapport's
// search attributes (a run would fail its first workflow task recording
// it, over and over). Where the credentials may not list them (Temporal
// Cloud API keys without the right role), it warns and returns nil.
func CheckSearchAttributes(ctx context.Context, c client.Client, namespace string, log *slog.Logger) error {
	missing, err := temporalsetup.MissingSearchAttributes(ctx, c, namespace, SearchAttributeTypes())
	switch {
	case grpcstatus.Code(err) == codes.PermissionDenied || grpcstatus.Code(err) == codes.Unimplemented:
		log.Warn("cannot list the namespace's search attributes; make sure Rapport's are registered (rapport setup temporal)", "namespace", namespace, "error", err)
		return nil
	case err != nil:
		return fmt.Errorf("namespace %s: %w", namespace, err)
	case len(missing) > 0:
		return fmt.Errorf("namespace %s lacks Rapport's search attributes %s (or has them with another type than Keyword): run `rapport setup temporal` before starting workers (docs/operating.md)",
			namespace, strings.Join(missing, ", "))
	}
	return nil
}
