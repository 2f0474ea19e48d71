package firewall

import (
	"encoding/binary"
	"net"
	"os"
	"testing"
	"time"

	"github.com/kiln-dev/kiln/internal/netns"
)

// echoes sends count ICMP or ICMPv6 echo requests from src to dst, as
// fast as possible, from a raw socket inside ns and returns how many
// replies arrived within a second of the last request.
func echoes(t *testing.T, ns, src, dst string, count int) int {
	t.Helper()
	v6 := net.ParseIP(src).To4() == nil
	network := "ip4:icmp"
	if v6 {
		network = "ip6:ipv6-icmp"
	}
	var c net.PacketConn
	netns.Run(t, ns, func() error {
		var err error
		c, err = net.ListenPacket(network, src)
		return err
	})
	defer c.Close()
	// Raw sockets see every echo reply: the id tells this source's apart.
	ip := net.ParseIP(src)
	id := (os.Getpid() + int(ip[len(ip)-1])) & 0xffff
	for seq := 0; seq < count; seq++ {
		if _, err := c.WriteTo(icmpEcho(v6, id, seq), &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
			t.Fatalf("send echo to %s: %v", dst, err)
		}
	}
	return countReplies(c, v6, id, time.Now().Add(time.Second))
}

// icmpEcho builds an echo request; the kernel fills in the ICMPv6
// checksum itself, the ICMPv4 one is computed here.
func icmpEcho(v6 bool, id, seq int) []byte {
	b := make([]byte, 16)
	b[0] = 8
	if v6 {
		b[0] = 128
	}
	binary.BigEndian.PutUint16(b[4:], uint16(id))
	binary.BigEndian.PutUint16(b[6:], uint16(seq))
	copy(b[8:], "kilnping")
	if !v6 {
		var sum uint32
		for i := 0; i < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		binary.BigEndian.PutUint16(b[2:], ^uint16(sum))
	}
	return b
}

// countReplies reads echo replies with the given id until the deadline.
func countReplies(c net.PacketConn, v6 bool, id int, deadline time.Time) int {
	want := byte(0)
	if v6 {
		want = 129
	}
	n := 0
	buf := make([]byte, 1500)
	_ = c.SetReadDeadline(deadline)
	for {
		k, _, err := c.ReadFrom(buf)
		if err != nil {
			return n
		}
		if k >= 8 && buf[0] == want && int(binary.BigEndian.Uint16(buf[4:])) == id {
			n++
		}
	}
}
