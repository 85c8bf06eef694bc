// Package docs holds documents the programs serve: the API's OpenAPI
// contract (openapi.yaml), embedded so the server and the file in the
// repository cannot differ.
package docs

import (
	_ "embed"
	"fmt"

	"sigs.k8s.io/yaml"
)

//go:embed openapi.yaml
var openAPIYAML string

// OpenAPIYAML returns the API's OpenAPI 3.1 document as committed in
// docs/openapi.yaml.
func OpenAPIYAML() []byte { return []byte(openAPIYAML) }

// OpenAPIJSON returns the API's OpenAPI 3.1 document converted to JSON,
// as GET /v1/openapi.json serves it.
func OpenAPIJSON() ([]byte, error) {
	b, err := yaml.YAMLToJSON([]byte(openAPIYAML))
	if err != nil {
		return nil, fmt.Errorf("convert docs/openapi.yaml to JSON: %w", err)
	}
	return b, nil
}
