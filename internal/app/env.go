package app

import (
	"os"
	"strings"
)

// Env is where configuration comes from: the process's environment
// (OSEnv) or, in tests, a map (MapEnv). Rapport counts an empty variable
// as unset, as compose files and Kubernetes Secrets pass "" for what is
// not configured.
//
// An Env that also lists its variables, with a method Environ() []string
// in the form of os.Environ (OSEnv and MapEnv have it), hands its
// TEMPORAL_GRPC_META_* variables on to the Temporal connection.
type Env interface {
	// Lookup returns the variable's value and whether it is set.
	Lookup(key string) (string, bool)
}

// OSEnv is the process's environment.
type OSEnv struct{}

// Lookup returns the environment variable key, as os.LookupEnv.
func (OSEnv) Lookup(key string) (string, bool) { return os.LookupEnv(key) }

// Environ lists the environment, as os.Environ.
func (OSEnv) Environ() []string { return os.Environ() }

// MapEnv is an environment held in a map, for tests: no process state.
type MapEnv map[string]string

// Lookup returns m[key] and whether it is there.
func (m MapEnv) Lookup(key string) (string, bool) {
	v, ok := m[key]
	return v, ok
}

// Environ lists the variables as KEY=value, as os.Environ.
func (m MapEnv) Environ() []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

// get returns the variable's value, "" when it is unset.
func get(env Env, key string) string {
	v, _ := env.Lookup(key)
	return v
}

// setEnv is env with empty variables counted as unset, as Rapport reads
// every variable, in the shape of envconfig.EnvLookup: an empty
// TEMPORAL_TLS_CLIENT_CERT_PATH must not turn TLS on.
type setEnv struct{ env Env }

func (s setEnv) Environ() []string {
	lister, ok := s.env.(interface{ Environ() []string })
	if !ok {
		return nil
	}
	var out []string
	for _, kv := range lister.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" && v != "" {
			out = append(out, kv)
		}
	}
	return out
}

func (s setEnv) LookupEnv(name string) (string, bool) {
	v, ok := s.env.Lookup(name)
	return v, ok && v != ""
}
