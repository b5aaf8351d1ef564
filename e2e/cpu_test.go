package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuGroup names a set of processes whose CPU time is summed: those of a
// system under load, PostgreSQL's, the benchmark's own.
type cpuGroup struct {
	name string
	pids func() []int
}

// cpuSnapshot is the CPU time (user + system, in clock ticks) each group
// and the whole machine had used at one moment, read from /proc. On a
// machine without /proc it is empty and the figures read as zero.
type cpuSnapshot struct {
	groups             map[string]map[int]uint64 // group → pid → ticks
	busy, machineTotal uint64
}

func snapshotCPU(groups []cpuGroup) cpuSnapshot {
	s := cpuSnapshot{groups: map[string]map[int]uint64{}}
	for _, g := range groups {
		s.groups[g.name] = map[int]uint64{}
		for _, pid := range g.pids() {
			s.groups[g.name][pid] = procTicks(pid)
		}
	}
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := bytes.Cut(b, []byte("\n"))
		for i, f := range strings.Fields(string(line))[1:] {
			n, _ := strconv.ParseUint(f, 10, 64)
			s.machineTotal += n
			if i != 3 && i != 4 { // idle, iowait
				s.busy += n
			}
		}
	}
	return s
}

// used returns the ticks group used from before to after: the processes
// alive at both moments, and all of the ones that started in between (a
// process that exited in between is lost).
func used(before, after cpuSnapshot, group string) uint64 {
	var n uint64
	for pid, t := range after.groups[group] {
		if b, ok := before.groups[group][pid]; ok && b <= t {
			n += t - b
		} else if !ok {
			n += t
		}
	}
	return n
}

// cpuTicksPerSecond is USER_HZ, 100 on Linux.
const cpuTicksPerSecond = 100

// procTicks is a process's utime + stime.
func procTicks(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command may hold spaces: fields count from after its ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	s, _ := strconv.ParseUint(f[12], 10, 64)
	return u + s
}

// pidsNamed lists the processes whose command name is name (postgres'
// backends, redis-server).
func pidsNamed(name string) func() []int {
	return func() []int {
		var pids []int
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			comm, err := os.ReadFile(d + "/comm")
			if err != nil || strings.TrimSpace(string(comm)) != name {
				continue
			}
			if pid, err := strconv.Atoi(filepath.Base(d)); err == nil {
				pids = append(pids, pid)
			}
		}
		return pids
	}
}

func pidOf(p *proc) func() []int { return func() []int { return []int{p.cmd.Process.Pid} } }
