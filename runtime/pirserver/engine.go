package pirserver

import (
	"fmt"

	"github.com/plinko-pir/plinko/runtime/dataset"
	"github.com/plinko-pir/plinko/runtime/plinko"
)

// engine is the Plinko server side over one in-memory database.
type engine struct {
	params plinko.Params
	srv    *plinko.Server
	free   func() // releases the database buffer
}

// layout checks that the manifest's layout is the one plinko derives for
// its n and entry size, before anything is allocated for it.
func layout(m *dataset.Manifest) (plinko.Params, error) {
	p, err := plinko.NewParams(m.N, int(m.EntrySize))
	if err != nil {
		return plinko.Params{}, fmt.Errorf("parameters for n=%d: %w", m.N, err)
	}
	if uint64(p.W) != m.W || uint64(p.C) != m.C {
		return plinko.Params{}, fmt.Errorf("manifest layout w=%d c=%d, plinko derives w=%d c=%d for n=%d", m.W, m.C, p.W, p.C, m.N)
	}
	if m.Snapshot().Size != uint64(p.DBSize()) {
		return plinko.Params{}, fmt.Errorf("snapshot has %d bytes, layout needs %d", m.Snapshot().Size, p.DBSize())
	}
	return p, nil
}

// newEngine serves db (the verified snapshot, from allocDB) and owns it:
// free releases it.
func newEngine(p plinko.Params, db []byte, free func()) (*engine, error) {
	srv, err := plinko.NewServer(p, db)
	if err != nil {
		return nil, err
	}
	return &engine{params: p, srv: srv, free: free}, nil
}

// decode parses a query batch and returns the newest hint epoch among its
// queries (the epoch the client's hints are at).
func (e *engine) decode(body []byte) ([]*plinko.Query, uint64, error) {
	qs, err := plinko.DecodeQueries(e.params, body)
	if err != nil {
		return nil, 0, err
	}
	var hint uint64
	for _, q := range qs {
		hint = max(hint, q.Epoch)
	}
	return qs, hint, nil
}

// answer answers every query on the current database and encodes the batch
// naming epoch. The caller holds the read lock, so no delta lands meanwhile.
// (Answering a batch's queries in one interleaved pass was measured and is
// slower with both cores busy: runtime/pirserver/README.md.)
func (e *engine) answer(qs []*plinko.Query, epoch uint64) ([]byte, error) {
	as := make([]*plinko.Answer, len(qs))
	for i, q := range qs {
		a, err := e.srv.Answer(q, epoch)
		if err != nil {
			return nil, err
		}
		as[i] = a
	}
	return plinko.EncodeAnswers(as)
}

// apply xors one delta record into the database. The caller checked the
// record (checkDelta) and holds the write lock.
func (e *engine) apply(index uint64, xor []byte) error { return e.srv.ApplyDelta(index, xor) }
