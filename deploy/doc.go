// Package deploy holds Recap's deployment files and the tests that keep
// them valid: the Kubernetes manifests (kubernetes/, a kustomize base and
// an example overlay), the Grafana dashboard (grafana/), and checks of the
// repository's Dockerfile and docker-compose.yml.
//
// It is a Go module of its own so that kustomize and its dependencies
// never enter the application's module graph. `make test` runs it
// (`cd deploy && go test ./...`).
package deploy
