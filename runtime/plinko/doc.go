// Package plinko implements the Plinko single-server PIR scheme (Hoover,
// Patel, Persiano, Yeo, EUROCRYPT 2025, ePrint 2024/318) as a pure library:
// parameters, client hints, queries, answers, reconstruction, backup-hint
// promotion, a cache with decoy queries, xor-delta updates, the wire format
// and the client state format. No I/O beyond the io.Reader the snapshot is
// streamed from.
//
// # Protocol
//
//	params, _ := plinko.NewParams(n, entrySize)
//	srv, _ := plinko.NewServer(params, db)           // db: C*W*EntrySize bytes
//	cl, _ := plinko.NewClient(params, rand.Reader)
//	_ = cl.HintInit(snapshot, progress)              // streams the C blocks once
//	cl.SetEpoch(snapshotEpoch)
//	q, _ := cl.Query(index)                          // wire: q.MarshalBinary()
//	ans, _ := srv.Answer(q, serverEpoch)             // wire: ans.MarshalBinary()
//	v, err := cl.Reconstruct(q, ans)                 // ErrEpochAhead: apply deltas, retry
//
// A lookup of several indices is one Batch: their queries and a check
// query (two sets whose parities the client computed from the snapshot),
// built and sent in a random order, reconstructed together by ReconstructBatch, which
// refuses the whole batch (ErrTampered) when the check fails. Queries that
// were sent and never reconstructed leave replacements owed (Owed): query
// those indices again before the next lookup.
//
// The database of N entries is laid out as C blocks of W entries (index
// i = a*W + b). The client holds Lambda*W regular hints and Q backup hints.
// For every block a and hint j an offset function F(a, j) in [0, 2W) says
// whether block a is in hint j's set (F < W) and at which offset
// (F mod W); a regular hint's parity is the XOR of its set's entries, a
// backup hint keeps the parities inside (l) and outside (r) its set.
//
// # What the server sees, and why it learns nothing
//
// A query is a partition of the C blocks into two sets (a C-bit mask) and
// one offset per block. One set is the chosen hint's set minus the target
// block, at the hint's offsets; the other is every remaining block,
// including the target block, at fresh uniformly random offsets. The two
// sets are sent in a random order.
//
//   - The mask is uniformly distributed whatever the target: the hint's set
//     minus the target block is a uniform subset of the other blocks (each
//     block is in a set with probability 1/2 independently of the others,
//     and the hint was chosen only by what it holds in the target block),
//     and a random bit decides which side is "set 1".
//   - Every offset is either fresh randomness or a PRF/iPRF output for a
//     block other than the target's, under keys the server never sees.
//   - The hint is drawn uniformly from every unused hint covering the
//     target, promoted ones included, and each query reserves a backup as
//     its replacement (filled at Reconstruct), so the pool later queries
//     draw from has the distribution of a fresh one; a repeated index is
//     answered from the cache and a decoy query for a random index is sent
//     in its place, so repeats look like fresh lookups.
//   - The answer is the XOR of each set's entries; it carries the epoch the
//     server computed it on. Updates are public xor-deltas that every client
//     applies, so they reveal nothing about any client.
//
// The server's view is therefore indistinguishable from a view generated
// without the target, as long as AES is a pseudorandom function and the
// iPRF's small-domain PRP looks random: the privacy is computational, not
// information-theoretic. PRIVACY.md states the guarantee for whole
// sessions, its assumptions and failure probability, and the tests with
// their power: privacy_test.go (one query, and the classic mistakes caught)
// and session_privacy_test.go (sessions of batched lookups, decoys and
// abandoned queries).
//
// # Offset functions
//
// OffsetIPRF is the paper's invertible PRF (iprf.go); OffsetAESScan is a
// bulk AES-CTR PRF that inverts by scanning a block's keystream
// (offsets.go); README.md compares them (the iPRF is the default: updates
// are 25x cheaper). The iPRF keeps per-block round tables and tree ranges
// in memory (about 46 MiB at n = 2^23), derived from the key, never saved.
// Both take their bulk AES-CTR from a Keystream, which a
// browser can supply from WebCrypto; keystream.go documents the key and IV
// of every stream so a standard AES-CTR reproduces them.
//
// Deviation from the paper, on purpose: a hint's set contains each block
// independently with probability 1/2 (block a is in hint j's set iff the
// top bit of F(a, j) is 0) instead of exactly C/2+1 blocks, so membership
// comes from the offset function itself and one inversion finds every hint
// covering an entry. The query still partitions all C blocks, so the mask
// stays uniform (see above) and the query size is fixed.
package plinko
