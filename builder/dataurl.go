package builder

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// decodeDataURL returns the bytes of an Ignition data: URL, as Ignition
// reads it (Butane compresses large inline contents with gzip).
func decodeDataURL(src string) ([]byte, error) {
	rest, ok := strings.CutPrefix(src, "data:")
	if !ok {
		return nil, fmt.Errorf("not a data URL: %.40q", src)
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok {
		return nil, fmt.Errorf("data URL without payload")
	}
	var data []byte
	if strings.HasSuffix(meta, ";base64") {
		d, err := base64.StdEncoding.DecodeString(payload)
		if err != nil {
			return nil, err
		}
		data = d
	} else {
		d, err := url.PathUnescape(payload)
		if err != nil {
			return nil, err
		}
		data = []byte(d)
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return data, nil
}
