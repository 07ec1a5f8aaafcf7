package devnet

import (
	"math/big"

	"github.com/ethereum/go-ethereum/core"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/params"
)

// ChainID of every devnet (the same as geth --dev).
const ChainID = 1337

// DefaultGasLimit is the block gas limit of the genesis and the miner's target.
const DefaultGasLimit = 100_000_000

// ChainConfig is every fork up to and including Prague at genesis, merged from
// the start (terminal total difficulty 0), and nothing later. geth --dev in
// v1.17 also enables Osaka, whose gas rules made a value transfer that creates
// an account cost about 195k gas and cap a transaction at 2^24 gas (see
// shared/design/ETHEREUM.md); Prague keeps transfers at 21000 gas.
func ChainConfig() *params.ChainConfig {
	zero := uint64(0)
	return &params.ChainConfig{
		ChainID:                 big.NewInt(ChainID),
		HomesteadBlock:          big.NewInt(0),
		EIP150Block:             big.NewInt(0),
		EIP155Block:             big.NewInt(0),
		EIP158Block:             big.NewInt(0),
		ByzantiumBlock:          big.NewInt(0),
		ConstantinopleBlock:     big.NewInt(0),
		PetersburgBlock:         big.NewInt(0),
		IstanbulBlock:           big.NewInt(0),
		MuirGlacierBlock:        big.NewInt(0),
		BerlinBlock:             big.NewInt(0),
		LondonBlock:             big.NewInt(0),
		ArrowGlacierBlock:       big.NewInt(0),
		GrayGlacierBlock:        big.NewInt(0),
		TerminalTotalDifficulty: big.NewInt(0),
		ShanghaiTime:            &zero,
		CancunTime:              &zero,
		PragueTime:              &zero,
		BlobScheduleConfig: &params.BlobScheduleConfig{
			Cancun: params.DefaultCancunBlobConfig,
			Prague: params.DefaultPragueBlobConfig,
		},
	}
}

// baseGenesis is the genesis without the funded accounts: chain config, gas
// limit, base fee, and the system contracts that Prague blocks call into
// (EIP-4788 beacon roots, EIP-2935 history, EIP-7002/7251 request queues).
func baseGenesis(gasLimit uint64) *core.Genesis {
	return &core.Genesis{
		Config:     ChainConfig(),
		GasLimit:   gasLimit,
		BaseFee:    big.NewInt(params.InitialBaseFee),
		Difficulty: big.NewInt(0),
		Alloc:      core.SystemContractAllocs(),
	}
}

// Genesis returns the full genesis of a devnet with n funded accounts derived
// from seed: the alloc path used for small n. The generator path (generate.go)
// produces the same state root and genesis hash without building this map.
func Genesis(seed uint64, n int, gasLimit uint64) *core.Genesis {
	g := baseGenesis(gasLimit)
	for i := 0; i < n; i++ {
		g.Alloc[AccountAddress(seed, i)] = types.Account{Balance: GenesisBalance(seed, i)}
	}
	return g
}
