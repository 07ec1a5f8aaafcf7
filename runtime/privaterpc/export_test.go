package privaterpc

// CheckerABI is the balance checker's ABI, for the external tests.
var CheckerABI = checkerABI
