package loadgen

import (
	"net"
	"os/exec"
	"syscall"
)

// setDeathSignal makes the kernel kill cmd's process when the generator
// dies.
func setDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux 4.2): a socket
// bound to an address with port 0 gets its port at connect, from the whole
// 4-tuple, rather than at bind, where it must be free for every peer. Without
// it, dialling from 127.0.0.x runs out of ports while the previous run's
// connections linger in TIME_WAIT.
const ipBindAddressNoPort = 24

// newDialer returns a dialer from local address ip (nil: the system's
// choice).
func newDialer(ip net.IP) *net.Dialer {
	d := &net.Dialer{}
	if ip == nil {
		return d
	}
	d.LocalAddr = &net.TCPAddr{IP: ip}
	d.Control = func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}
	return d
}
