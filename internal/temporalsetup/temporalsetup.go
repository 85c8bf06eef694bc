// Package temporalsetup prepares a Temporal namespace for Rapport: it
// registers the search attributes staff find journeys by. It talks to any
// Temporal service through the SDK client's operator service and imports
// no server code, so `rapport setup temporal` in the production build and
// the embedded dev server (internal/devstack) share it.
package temporalsetup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// EnsureSearchAttributes registers custom search attributes on a namespace
// through the operator service and returns the names it added, sorted.
// Attributes that already exist with the same type are left alone, so it
// is safe to call at every start; one that exists with another type is an
// error (the first such name in sorted order).
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) ([]string, error) {
	if len(attrs) == 0 {
		return nil, nil
	}
	existing, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	var added []string
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		typ := attrs[name]
		have, ok := existing.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
			added = append(added, name)
		case have != typ:
			return nil, fmt.Errorf("search attribute %s exists with type %s, Rapport needs %s", name, have, typ)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return nil, fmt.Errorf("add search attributes: %w", err)
	}
	return added, nil
}

// MissingSearchAttributes returns the names, sorted, of the attributes
// not registered on a namespace with the type given, so a worker can
// refuse to start before its runs fail to record them. It only lists
// (no write permission needed).
func MissingSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs map[string]enumspb.IndexedValueType) ([]string, error) {
	existing, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("list search attributes: %w", err)
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(attrs)) {
		if have, ok := existing.GetCustomAttributes()[name]; !ok || have != attrs[name] {
			missing = append(missing, name)
		}
	}
	return missing, nil
}
