// Package cdn serves the published dataset directory (manifest.json,
// head.json, the content-addressed snapshot and deltas/<epoch>.delta) over
// HTTP with fasthttp, the way a CDN would:
//
//   - strong ETags (sha256 of the bytes) and If-None-Match (304),
//   - single byte ranges (206, 416) with If-Range, always on the identity
//     encoding so that a resumed download continues the same bytes,
//   - gzip where it pays: small files compressed in memory once per
//     content, large immutable files (the snapshot) from a .gz written once
//     next to them in the background (its gzip header names the sha256 of the
//     original, so a stale .gz is never served),
//   - Cache-Control immutable for content-addressed files (names holding a
//     sha256, everything under deltas/) and no-cache for manifest.json,
//     head.json and anything else,
//   - CORS for the wallet on another origin, /healthz, /readyz, /metrics.
//
// Paths are whitelisted per segment ([A-Za-z0-9._-], no leading dot, so
// temp files of atomic writes stay private) and opened through os.Root, so
// neither ".." nor a symlink can leave the directory.
package cdn
