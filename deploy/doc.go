// Package deploy holds no code: its tests check the operations packaging
// beside it and at the repository's root (Dockerfile, .dockerignore,
// docker-compose.yml and the Kubernetes manifests in deploy/k8s) against
// each other and against the binary's operational interface, without
// Docker or a cluster. docs/operating.md is the operators' guide.
package deploy
