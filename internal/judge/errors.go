package judge

import "errors"

// Judge runs.
var (
	// ErrJudgeFailed means the judge ran and exited non-zero.
	ErrJudgeFailed = errors.New("judge rejected the input")
	// ErrJudgeTimeout means the judge did not finish within Timeout.
	ErrJudgeTimeout = errors.New("judge timed out")
)
