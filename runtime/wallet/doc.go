// Package wallet serves the wallet web page: static files embedded in the
// binary, the project's own PIR client compiled to WebAssembly (runtime/client
// running in a Web Worker), and a small config endpoint naming the CDN and
// pir-server URLs.
//
// The .wasm comes from one of two places (see README.md): a prebuilt file
// (Config.WasmPath, used by the container image), or, from a source checkout,
// a build on demand into a cache directory keyed by a hash of the Go version
// and every source file the wasm is built from.
package wallet
