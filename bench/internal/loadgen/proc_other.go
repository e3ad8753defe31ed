//go:build !linux

package loadgen

import (
	"net"
	"os/exec"
)

func setDeathSignal(*exec.Cmd) {}

func newDialer(ip net.IP) *net.Dialer {
	d := &net.Dialer{}
	if ip != nil {
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	return d
}
