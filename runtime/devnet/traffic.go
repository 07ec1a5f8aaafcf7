package devnet

import (
	"math/big"
	"math/rand/v2"

	"github.com/ethereum/go-ethereum/consensus/misc/eip1559"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// TransferGas is the gas of a plain value transfer under Prague, also when it
// creates the recipient.
const TransferGas = params.TxGas

// tip is the priority fee of every transfer: it goes to FeeRecipient.
var tip = big.NewInt(params.GWei)

// blockPlan is the traffic of one block.
type blockPlan struct {
	txs        types.Transactions
	withdrawal *types.Withdrawal
}

// trafficRand is the random source of block number's traffic: a ChaCha8 stream
// keyed by keccak256(tag || seed || number || salt), salt being the number of
// reorgs so far (a replacement branch gets different traffic).
func trafficRand(seed, number, salt uint64) *rand.Rand {
	h := derive(tagTraffic, seed, number, salt)
	return rand.New(rand.NewChaCha8([32]byte(h)))
}

// plan draws the traffic of the block after parent:
//   - TxPerBlock transfers, each from a random sender to a random funded
//     account, 10% of the amounts sub-gwei dust, the rest 1 gwei .. 0.1 ETH
//     with arbitrary wei;
//   - when number % NewAccountEvery == 0 the first transfer pays
//     NewAccountAddress(seed, number) instead, creating an account;
//   - when number % WithdrawalEvery == 0 one beacon withdrawal of
//     1 gwei .. 32 ETH (whole gwei, as withdrawals are) to a random funded
//     account, index = block number.
//
// Nonces come from the pool's pending state, fees from the parent's base fee.
func (n *Node) plan(parent *types.Header) blockPlan {
	var p blockPlan
	if n.cfg.Traffic.Disabled || len(n.senders) == 0 {
		return p
	}
	number := parent.Number.Uint64() + 1
	r := trafficRand(n.cfg.Seed, number, n.salt)
	baseFee := eip1559.CalcBaseFee(n.eth.BlockChain().Config(), parent)
	feeCap := new(big.Int).Add(new(big.Int).Mul(baseFee, big.NewInt(2)), tip)
	nonces := make(map[int]uint64)
	for j := 0; j < n.cfg.Traffic.TxPerBlock; j++ {
		s := r.IntN(len(n.senders))
		to := AccountAddress(n.cfg.Seed, r.IntN(n.cfg.Accounts))
		if j == 0 && number%n.cfg.Traffic.NewAccountEvery == 0 {
			to = NewAccountAddress(n.cfg.Seed, number)
		}
		nonce, ok := nonces[s]
		if !ok {
			nonce = n.eth.TxPool().Nonce(n.senderAddress(s))
		}
		nonces[s] = nonce + 1
		tx := types.NewTx(&types.DynamicFeeTx{
			ChainID:   big.NewInt(ChainID),
			Nonce:     nonce,
			GasTipCap: tip,
			GasFeeCap: feeCap,
			Gas:       TransferGas,
			To:        &to,
			Value:     transferAmount(r),
		})
		signed, err := types.SignTx(tx, n.signer, n.senders[s])
		if err != nil {
			panic("devnet: signing a transfer: " + err.Error()) // only on a broken key
		}
		p.txs = append(p.txs, signed)
	}
	if number%n.cfg.Traffic.WithdrawalEvery == 0 {
		p.withdrawal = &types.Withdrawal{
			Index:     number,
			Validator: r.Uint64N(1 << 20),
			Address:   AccountAddress(n.cfg.Seed, r.IntN(n.cfg.Accounts)),
			Amount:    1 + r.Uint64N(32*params.GWei), // in gwei
		}
	}
	return p
}

// transferAmount: 10% sub-gwei dust (1 .. 1e9-1 wei), else 1 gwei .. 0.1 ETH.
func transferAmount(r *rand.Rand) *big.Int {
	if r.IntN(10) == 0 {
		return new(big.Int).SetUint64(1 + r.Uint64N(params.GWei-1))
	}
	return new(big.Int).SetUint64(params.GWei + r.Uint64N(params.Ether/10))
}
