// Command benchtool runs one kiln image writer on given files so bench.sh
// can time it and measure its peak memory beside the standard tools.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kiln-dev/kiln/images"
)

func main() {
	op := flag.String("op", "", "raw, qcow2 or iso")
	base := flag.String("base", "", "base artifact (raw disk for raw and qcow2, live ISO for iso)")
	out := flag.String("out", "", "output path")
	config := flag.String("config", "", "Ignition config file")
	flag.Parse()
	if err := run(*op, *base, *out, *config); err != nil {
		fmt.Fprintln(os.Stderr, "benchtool:", err)
		os.Exit(1)
	}
}

func run(op, base, out, config string) error {
	cfg, err := os.ReadFile(config)
	if err != nil && op != "qcow2" {
		return err
	}
	ctx := context.Background()
	epoch := time.Unix(1700000000, 0)
	switch op {
	case "raw":
		return images.WriteRaw(ctx, out, base, cfg, "qemu", epoch, nil)
	case "qcow2":
		return images.WriteQcow2(ctx, out, base, nil)
	case "iso":
		return images.WriteISO(ctx, out, base, cfg, nil)
	}
	return fmt.Errorf("unknown op %q", op)
}
