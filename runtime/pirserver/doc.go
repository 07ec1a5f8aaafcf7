// Package pirserver is the pir-server: it holds the published database in
// memory, keeps it at the newest epoch by applying every verified delta in
// order, and answers Plinko PIR queries over HTTP (fasthttp).
//
// Each answer is computed on exactly one epoch: queries hold a read lock for
// the whole batch, a delta is applied under the write lock. The answer batch
// names that epoch, and so does the Plinko-Epoch response header.
//
// Nothing derived from a query's content is logged, exported as a metric or
// kept: the server sees offsets that say nothing about the index (Plinko's
// computational privacy) and forgets them after answering. See README.md for
// the HTTP API.
package pirserver
