//go:build unix

package file

import (
	"errors"
	"os"
	"syscall"
)

// lockGroup takes an exclusive, non-blocking flock on a group's offsets
// file, held as long as f is open: a second Bus (in this process or
// another) consuming the same group on the same directory fails instead
// of delivering every line a second time. The kernel drops the lock when
// its holder exits, however it exits.
func lockGroup(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return ErrGroupLocked
	}
	return err
}
