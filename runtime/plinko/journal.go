package plinko

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// The journal lets a client persist what changed since its last saved
// state in a few hundred bytes instead of the whole state (MiBs): a lookup
// consumes three hints and promotes three backups, a block changes a few
// thousand entries. Replaying a journal record onto the state it follows
// gives exactly the client that wrote it.
//
// Record format (integers little-endian):
//
//	"PLKJ" | version(1) | op count(4) | ops | sha256 of everything before (32)
//
// ops, each a kind byte then:
//
//	journalConsume: promoted(1) | hint id(4) | target(8)
//	                a query used this hint and reserved the next backup for target
//	journalFill:    index(8) | cache(1) | value(EntrySize)
//	                index's value completed its reserved backups (and is cached)
//	journalDeltas:  count(4) | count x (index(8) | xor(EntrySize))
//	journalCheck:   check hint id(4)               a check query used this check hint (the next one)
//	journalEpoch:   epoch(8)
const (
	journalMagic   = "PLKJ"
	journalVersion = 2

	journalConsume = 1
	journalFill    = 2
	journalDeltas  = 3
	journalEpoch   = 4
	journalCheck   = 5
)

// ErrJournal is wrapped by every ApplyJournal error.
var ErrJournal = errors.New("plinko: bad journal record")

// journal is the client's record of changes since its last checkpoint.
type journal struct {
	ops   []byte
	count uint32
	// ok is false when the changes cannot be journaled (fresh hints, a
	// failed update): the next save must be a whole state.
	ok bool
}

func (j *journal) add(op []byte) {
	j.ops = append(j.ops, op...)
	j.count++
}

func (c *Client) logConsume(promoted bool, hint uint32, target uint64) {
	op := []byte{journalConsume, 0}
	if promoted {
		op[1] = 1
	}
	op = binary.LittleEndian.AppendUint32(op, hint)
	c.jr.add(binary.LittleEndian.AppendUint64(op, target))
}

func (c *Client) logFill(x uint64, cache bool, d []uint64) {
	op := binary.LittleEndian.AppendUint64([]byte{journalFill}, x)
	if cache {
		op = append(op, 1)
	} else {
		op = append(op, 0)
	}
	for _, w := range d {
		op = binary.LittleEndian.AppendUint64(op, w)
	}
	c.jr.add(op)
}

func (c *Client) logDeltas(ds []Delta) {
	op := binary.LittleEndian.AppendUint32([]byte{journalDeltas}, uint32(len(ds)))
	for _, d := range ds {
		op = binary.LittleEndian.AppendUint64(op, d.Index)
		op = append(op, d.XOR...)
	}
	c.jr.add(op)
}

func (c *Client) logCheck(i uint32) {
	c.jr.add(binary.LittleEndian.AppendUint32([]byte{journalCheck}, i))
}

func (c *Client) logEpoch(e uint64) {
	c.jr.add(binary.LittleEndian.AppendUint64([]byte{journalEpoch}, e))
}

// Checkpoint marks the client's current state as saved: call it after the
// bytes of MarshalBinary are safely stored. The journal restarts from here.
func (c *Client) Checkpoint() {
	c.jr = journal{ok: true}
}

// TakeJournal returns the changes since the last Checkpoint (or the last
// TakeJournal) as one self-verifying record, and starts a new one. ok is
// false when they cannot be journaled (after HintInit, or an update that
// failed half-way): save the whole state (MarshalBinary, then Checkpoint).
// A nil record with ok means nothing changed.
func (c *Client) TakeJournal() (rec []byte, ok bool) {
	if !c.jr.ok {
		return nil, false
	}
	if c.jr.count == 0 {
		return nil, true
	}
	b := make([]byte, 0, 4+1+4+len(c.jr.ops)+sha256.Size)
	b = append(b, journalMagic...)
	b = append(b, journalVersion)
	b = binary.LittleEndian.AppendUint32(b, c.jr.count)
	b = append(b, c.jr.ops...)
	sum := sha256.Sum256(b)
	c.jr = journal{ok: true}
	return append(b, sum[:]...), true
}

// ApplyJournal replays records taken from a client onto that client's
// state as it was saved (LoadClient of the bytes its Checkpoint followed),
// in the order they were taken. A record that does not verify or does not
// fit this client is refused before anything is applied.
func (c *Client) ApplyJournal(rec []byte) error {
	ops, err := c.parseJournal(rec)
	if err != nil {
		return err
	}
	for _, op := range ops {
		switch op.kind {
		case journalConsume:
			if op.promoted {
				c.prom[op.hint].used = true
			} else {
				c.consumed[op.hint] = struct{}{}
			}
			c.reserve(op.x)
		case journalFill:
			c.fill(op.x, op.value)
			if op.cache {
				c.cache[op.x] = op.value
			}
		case journalDeltas:
			if err := c.applyDeltas(op.deltas); err != nil {
				c.jr.ok = false
				return err
			}
		case journalEpoch:
			c.epoch = op.epoch
		case journalCheck:
			c.checks++
		}
	}
	return nil
}

type journalOp struct {
	kind     byte
	promoted bool
	cache    bool
	hint     uint32
	x        uint64
	value    []uint64
	deltas   []Delta
	epoch    uint64
}

// parseJournal checks a whole record against this client before any of it
// is applied. Reserved backups are counted so that a consume of a promoted
// hint refers to one that exists by then.
func (c *Client) parseJournal(rec []byte) ([]journalOp, error) {
	if !c.ready {
		return nil, fmt.Errorf("%w: the client has no hints", ErrJournal)
	}
	if len(rec) < 4+1+4+sha256.Size {
		return nil, fmt.Errorf("%w: %d bytes is too short", ErrJournal, len(rec))
	}
	body, sum := rec[:len(rec)-sha256.Size], rec[len(rec)-sha256.Size:]
	if want := sha256.Sum256(body); string(want[:]) != string(sum) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrJournal)
	}
	r := &stateReader{b: body}
	if string(r.take(4)) != journalMagic {
		return nil, fmt.Errorf("%w: not a journal record", ErrJournal)
	}
	if v := r.u8(); v != journalVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrJournal, v, journalVersion)
	}
	count := r.u32()
	if int64(count) > int64(len(r.b)) {
		return nil, fmt.Errorf("%w: %d ops in %d bytes", ErrJournal, count, len(r.b))
	}
	p := c.p
	next, checks := c.next, c.checks
	ops := make([]journalOp, 0, count)
	for i := range count {
		op := journalOp{kind: r.u8()}
		switch op.kind {
		case journalConsume:
			flag := r.u8()
			op.promoted, op.hint, op.x = flag == 1, r.u32(), r.u64()
			if r.bad || flag > 1 || (op.promoted && int(op.hint) >= next) || (!op.promoted && int(op.hint) >= p.Regular()) {
				return nil, fmt.Errorf("%w: op %d: bad consumed hint", ErrJournal, i)
			}
			if op.x >= p.N || next >= p.Q {
				return nil, fmt.Errorf("%w: op %d: bad reserved backup", ErrJournal, i)
			}
			next++
		case journalFill:
			op.x = r.u64()
			flag := r.u8()
			op.cache = flag == 1
			op.value = r.words(c.words)
			if r.bad || op.x >= p.N || flag > 1 {
				return nil, fmt.Errorf("%w: op %d: bad fill", ErrJournal, i)
			}
		case journalDeltas:
			n := r.u32()
			if r.bad || int64(n)*int64(8+p.EntrySize) > int64(len(r.b)) {
				return nil, fmt.Errorf("%w: op %d: bad delta count", ErrJournal, i)
			}
			op.deltas = make([]Delta, n)
			for k := range op.deltas {
				op.deltas[k] = Delta{Index: r.u64(), XOR: r.take(p.EntrySize)}
				if op.deltas[k].Index >= p.N {
					return nil, fmt.Errorf("%w: op %d: delta index outside the database", ErrJournal, i)
				}
			}
		case journalEpoch:
			op.epoch = r.u64()
		case journalCheck:
			if id := r.u32(); r.bad || int(id) != checks || checks >= p.checkHints() {
				return nil, fmt.Errorf("%w: op %d: check hint out of order", ErrJournal, i)
			}
			checks++
		default:
			return nil, fmt.Errorf("%w: op %d: unknown kind %d", ErrJournal, i, op.kind)
		}
		if r.bad {
			return nil, fmt.Errorf("%w: op %d truncated", ErrJournal, i)
		}
		ops = append(ops, op)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrJournal, len(r.b))
	}
	return ops, nil
}
