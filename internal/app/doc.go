// Package app wires Rapport's production processes together: the
// configuration from the environment (Config, ConfigFromEnv), the
// connections to PostgreSQL and Temporal (Connect, Services), the
// provider clients (Senders), and the start-up of a worker (RunWorker)
// and of the API (RunAPI).
//
// cmd/rapport parses its flags into these types and prints; the
// dev-only commands (dev, bench, simulate, chaos) build on the same
// pieces but keep what only they need (the embedded Temporal server, the
// fake providers, the bench's baselines) on their side: nothing here
// imports internal/devstack, internal/fakes, internal/bench,
// internal/simulation or internal/chaos, so the production build links
// none of them.
package app
