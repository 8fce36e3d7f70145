package ipc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrSocketInUse is returned by Listen when another process is accepting
// on the socket path.
var ErrSocketInUse = errors.New("ipc: socket in use by another process")

// ErrPeerRefused is returned by CheckPeer for a peer of another user.
var ErrPeerRefused = errors.New("ipc: peer refused")

// Listen listens on a Unix socket at path with the given file mode (0600
// unless the caller wants a group to connect) and group (-1: keep the
// process's). A stale socket file left by
// a killed process is removed; a live one is ErrSocketInUse; a path that
// is not a socket is never removed. The socket is bound inside a private
// directory, chmod-ed and then renamed into place, so it is never
// reachable with wider permissions.
func Listen(path string, mode os.FileMode, gid int) (*net.UnixListener, error) {
	if err := removeStale(path); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ipc: create socket dir: %w", err)
	}
	private, err := os.MkdirTemp(dir, ".sock-")
	if err != nil {
		return nil, fmt.Errorf("ipc: private dir for socket: %w", err)
	}
	defer os.RemoveAll(private)
	tmp := filepath.Join(private, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("ipc: listen: %w", err)
	}
	l.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) {
		l.Close()
		return nil, err
	}
	if gid >= 0 {
		if err := os.Lchown(tmp, -1, gid); err != nil {
			return fail(fmt.Errorf("ipc: chown socket: %w", err))
		}
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(fmt.Errorf("ipc: chmod socket: %w", err))
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(fmt.Errorf("ipc: move socket into place: %w", err))
	}
	return l, nil
}

// removeStale removes a socket file nobody accepts on.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ipc: stat socket: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("ipc: %s exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s", ErrSocketInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("ipc: probe socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("ipc: remove stale socket: %w", err)
	}
	return nil
}

// Peer is the credentials of the process at the other end of a Unix
// socket, as the kernel reports them (SO_PEERCRED).
type Peer struct {
	PID, UID, GID int
}

// PeerOf returns the credentials of c's peer.
func PeerOf(c *net.UnixConn) (Peer, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return Peer{}, fmt.Errorf("ipc: peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return Peer{}, fmt.Errorf("ipc: peer credentials: %w", err)
	}
	if serr != nil {
		return Peer{}, fmt.Errorf("ipc: peer credentials: %w", serr)
	}
	return Peer{PID: int(cred.Pid), UID: int(cred.Uid), GID: int(cred.Gid)}, nil
}

// CheckPeer returns the peer's credentials, or ErrPeerRefused when it runs
// as another user than this process (root is not exempt).
func CheckPeer(c *net.UnixConn) (Peer, error) {
	p, err := PeerOf(c)
	if err != nil {
		return p, err
	}
	if p.UID != os.Getuid() {
		return p, fmt.Errorf("%w: uid %d, want %d", ErrPeerRefused, p.UID, os.Getuid())
	}
	return p, nil
}
