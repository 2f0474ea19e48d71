package base

import (
	"bufio"
	"io"
)

// bufioReader gives decompressors large reads; both xz and gzip read in
// small pieces otherwise.
func bufioReader(r io.Reader) io.Reader { return bufio.NewReaderSize(r, 1<<20) }
