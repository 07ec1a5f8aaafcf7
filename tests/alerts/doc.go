// Package alerts tests infra/monitoring's alerting rules and dashboard with
// Prometheus's own rules engine and PromQL parser (the machinery of
// `promtool test rules`). It is a module of its own so that
// github.com/prometheus/prometheus and its cloud SDKs stay out of the main
// module's go.mod and build: run it with `cd tests/alerts && go test ./...`
// (.ci/run does).
package alerts
