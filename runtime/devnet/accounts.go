package devnet

import (
	"crypto/ecdsa"
	"encoding/binary"
	"math/big"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/crypto"
)

// SenderCount is how many of the funded accounts (indexes 0..SenderCount-1)
// have private keys and send the synthetic traffic. Every other funded account
// is a hash-derived address without a key: deriving an address from a key
// costs an elliptic-curve multiplication, far too slow for 2^23 accounts.
const SenderCount = 16

// Domain-separation tags for everything derived from the seed, so that the
// derivations can never collide with each other.
const (
	tagSender  = "plinko-devnet/sender-key/v1"
	tagAccount = "plinko-devnet/account/v1"
	tagBalance = "plinko-devnet/balance/v1"
	tagNew     = "plinko-devnet/new-account/v1"
	tagTraffic = "plinko-devnet/traffic/v1"
)

// derive returns keccak256(tag || seed || i || extra), the one hash behind every
// deterministic choice of the devnet.
func derive(tag string, seed, i uint64, extra ...uint64) common.Hash {
	buf := make([]byte, 0, len(tag)+16+8*len(extra))
	buf = append(buf, tag...)
	buf = binary.BigEndian.AppendUint64(buf, seed)
	buf = binary.BigEndian.AppendUint64(buf, i)
	for _, e := range extra {
		buf = binary.BigEndian.AppendUint64(buf, e)
	}
	return crypto.Keccak256Hash(buf)
}

// SenderKey returns the private key of funded account i (i < SenderCount).
// The key is keccak256(tag || seed || i || attempt), retried with the next
// attempt in the (never observed) case that the hash is not a valid scalar.
func SenderKey(seed uint64, i int) *ecdsa.PrivateKey {
	if i < 0 || i >= SenderCount {
		panic("devnet: SenderKey index out of range")
	}
	for attempt := uint64(0); ; attempt++ {
		h := derive(tagSender, seed, uint64(i), attempt)
		if key, err := crypto.ToECDSA(h[:]); err == nil {
			return key
		}
	}
}

// AccountAddress returns the address of funded account i for a seed: the
// address of SenderKey(seed, i) for i < SenderCount, otherwise the last 20
// bytes of keccak256(tag || seed || i). Tests use it to predict the state.
func AccountAddress(seed uint64, i int) common.Address {
	if i < SenderCount {
		return crypto.PubkeyToAddress(SenderKey(seed, i).PublicKey)
	}
	return common.BytesToAddress(derive(tagAccount, seed, uint64(i)).Bytes()[12:])
}

// NewAccountAddress returns the k-th address the traffic creates ("new
// accounts now and then"): never a funded account, never funded at genesis.
// The traffic uses k = the number of the block that first pays it.
func NewAccountAddress(seed uint64, k uint64) common.Address {
	return common.BytesToAddress(derive(tagNew, seed, k).Bytes()[12:])
}

// FeeRecipient is the coinbase of every block: funded account 0, a sender, so
// that tips flow back into the traffic instead of piling up elsewhere.
func FeeRecipient(seed uint64) common.Address { return AccountAddress(seed, 0) }

var (
	ether     = new(big.Int).Exp(big.NewInt(10), big.NewInt(18), nil)
	gwei      = big.NewInt(1_000_000_000)
	senderBal = new(big.Int).Mul(big.NewInt(1_000_000), ether) // 1e6 ETH each
)

// Balance classes of GenesisBalance, chosen to exercise the exact-wei entry
// (96 bits of wei, runtime/keyword): see GenesisBalance.
const (
	ClassSender   = "sender"   // SenderCount accounts, 1e6 ETH plus a few wei
	ClassDust     = "dust"     // 5%: 1 wei .. 1 gwei - 1 (the old gwei entries read them as 0)
	ClassLarge    = "large"    // 20%: 18.5 .. 10,000 ETH (overflows uint64 wei)
	ClassHuge     = "huge"     // 0.3%: 1e6 ETH .. 2^96-1 wei (~7.9e10 ETH, the widest an entry holds)
	ClassOrdinary = "ordinary" // the rest: 0.001 .. 10 ETH with arbitrary wei
)

// maxEntryWei is 2^96, one more than the largest balance an entry holds.
var maxEntryWei = new(big.Int).Lsh(big.NewInt(1), 96)

// BalanceClass says which class funded account i falls into (see the Class
// constants); GenesisBalance draws its value from that class.
func BalanceClass(seed uint64, i int) string {
	if i < SenderCount {
		return ClassSender
	}
	h := derive(tagBalance, seed, uint64(i))
	switch bucket := binary.BigEndian.Uint64(h[0:8]) % 1000; {
	case bucket < 50:
		return ClassDust
	case bucket < 250:
		return ClassLarge
	case bucket < 253:
		return ClassHuge
	default:
		return ClassOrdinary
	}
}

// GenesisBalance returns the genesis balance in wei of funded account i for a
// seed. Never zero (an empty account would be pruned from the state).
func GenesisBalance(seed uint64, i int) *big.Int {
	h := derive(tagBalance, seed, uint64(i))
	r := new(big.Int).SetBytes(h[8:32])      // 192 random bits for the value
	span := func(lo, hi *big.Int) *big.Int { // lo + r mod (hi - lo)
		w := new(big.Int).Sub(hi, lo)
		return w.Add(lo, new(big.Int).Mod(r, w))
	}
	milliEth := new(big.Int).Div(ether, big.NewInt(1000))
	switch BalanceClass(seed, i) {
	case ClassSender:
		return new(big.Int).Add(senderBal, new(big.Int).Mod(r, big.NewInt(1000)))
	case ClassDust:
		return span(big.NewInt(1), gwei)
	case ClassLarge:
		return span(new(big.Int).Mul(big.NewInt(185), new(big.Int).Div(ether, big.NewInt(10))),
			new(big.Int).Mul(big.NewInt(10_000), ether))
	case ClassHuge:
		// Log-spread: 10^6 ETH .. 2^96-1 wei (about 7.9e10 ETH), so that
		// some use all 96 bits of an entry's balance; wider would be
		// refused by db-gen, and no real chain comes near.
		exp := int64(6 + h[31]%5)
		lo := new(big.Int).Mul(new(big.Int).Exp(big.NewInt(10), big.NewInt(exp), nil), ether)
		hi := new(big.Int).Mul(lo, big.NewInt(10))
		if hi.Cmp(maxEntryWei) > 0 {
			hi = maxEntryWei
		}
		return span(lo, hi)
	default:
		return span(milliEth, new(big.Int).Mul(big.NewInt(10), ether))
	}
}
