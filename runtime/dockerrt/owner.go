package dockerrt

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// LabelOwner holds the process that created a container:
// "<hostname>/<boot id>/<pid>/<start time>". Reap removes a container of
// this machine whose process is gone, whatever the engine says, so that a
// server or worker killed mid-run and started again does not wait for the
// lease of its old attempt to lapse; and it leaves alone the containers of
// live processes (another worker on the machine, a second server).
const LabelOwner = "loom.owner"

var (
	ownerOnce sync.Once
	ownerID   string
)

// Owner returns the LabelOwner value of the containers this process
// creates.
func Owner() string {
	ownerOnce.Do(func() {
		host, _ := os.Hostname()
		ownerID = strings.Join([]string{host, bootID(), strconv.Itoa(os.Getpid()), startTime(os.Getpid())}, "/")
	})
	return ownerID
}

// ownerState is what a LabelOwner value says about its process.
type ownerState int

const (
	// ownerUnknown: no label, or a process of another machine or boot.
	ownerUnknown ownerState = iota
	ownerAlive
	ownerGone
)

// ownerOf tells whether the process a LabelOwner value names is running.
// A process of another host or boot cannot be checked from here.
func ownerOf(label string) ownerState {
	parts := strings.Split(label, "/")
	if len(parts) != 4 {
		return ownerUnknown
	}
	host, _ := os.Hostname()
	boot := bootID()
	if parts[0] != host || boot == "" || parts[1] != boot {
		return ownerUnknown
	}
	pid, err := strconv.Atoi(parts[2])
	if err != nil || pid <= 0 {
		return ownerUnknown
	}
	// The start time tells a reused pid from the process that created
	// the container.
	if st := startTime(pid); st == "" || st != parts[3] {
		return ownerGone
	}
	return ownerAlive
}

// bootID identifies this boot of the machine (Linux), or is empty, in
// which case no container's owner can be checked.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// startTime is when process pid started, in clock ticks since boot (field
// 22 of /proc/PID/stat), or empty when there is no such process.
func startTime(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); field 22 is fields[19].
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}
