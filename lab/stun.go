package lab

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"

	"github.com/ferry-migrate/ferry/lab/cbt"
	"github.com/ferry-migrate/ferry/lab/dsfile"
	"github.com/ferry-migrate/ferry/lab/simwrap"
)

// A full datastore stops the VMs that write to it, as ESXi does: a guest
// write that needs space the datastore no longer has (a new block of a
// thin disk, or of a snapshot's delta) is not done, and ESXi pauses the VM
// with a question ("There is no more space for virtual disk ... Retry /
// Cancel"; Broadcom KB 318856 on a full VMFS, and vSphere Storage: on an
// out-of-space condition "the host pauses virtual machines"). The VM stays
// powered on, its guest runs nothing (its services stop answering) until
// someone frees space and answers Retry; Cancel powers it off. Stock vcsim
// lets a guest fill any datastore. A pass snapshot whose delta fills the
// source's datastore does this to the source VM: what ferry's snapshot
// reserve and its space watch are there to prevent.

// noSpaceError is a guest write refused for want of space.
type noSpaceError struct {
	file       string
	need, free int64
}

func (e *noSpaceError) Error() string {
	return fmt.Sprintf("no more space for virtual disk %s: the write needs %d bytes, the datastore has %d free", filepath.Base(e.file), e.need, e.free)
}

// guestWrite writes p at off into the on-prem flat file as the guest of
// its VM would: through changed block tracking, and refused (noSpaceError)
// when it needs more space than the file's datastore has free.
func (l *Lab) guestWrite(file string, p []byte, off int64) error {
	need, err := l.CBT.Growth(file, off, int64(len(p)))
	if err != nil {
		return err
	}
	if need > 0 {
		if free, ok := l.OnPrem.storage.room(file, need); !ok {
			return &noSpaceError{file: file, need: need, free: free}
		}
	}
	return l.CBT.WriteAt(file, p, off)
}

// takenEstimate is what a datastore's files and deltas took at its last
// walk (at), plus what guest writes took since.
type takenEstimate struct {
	bytes int64
	at    time.Time
}

// Walking a datastore's files (storage.used) takes a couple of
// milliseconds with 50 VMs: once per growing guest write, under the VM's
// lock, it cost more than a core. A write is let through on the estimate
// while it leaves roomMargin free and the estimate is younger than
// roomFresh; nearer the full datastore, every write walks, and a write is
// refused only on a fresh walk.
const (
	roomMargin = 64 << 20
	roomFresh  = time.Second
)

// room says whether the datastore that holds the local file p has need
// bytes free for a guest write, and takes them; free is what it has (when
// it has not). A file on no datastore of this vCenter has room.
func (s *storage) room(p string, need int64) (free int64, ok bool) {
	return s.roomIn(s.dirOf(p), need)
}

// roomIn is room for the datastore whose files are under dir ("": none).
func (s *storage) roomIn(dir string, need int64) (free int64, ok bool) {
	if dir == "" {
		return 0, true
	}
	capacity := s.capacity.Load()
	s.takenMu.Lock()
	defer s.takenMu.Unlock()
	e, known := s.taken[dir]
	if !known || time.Since(e.at) >= roomFresh || capacity-e.bytes-need < roomMargin {
		e = takenEstimate{bytes: s.used(dir), at: time.Now()}
	}
	if free = capacity - e.bytes; free < need {
		s.setTaken(dir, e)
		return free, false
	}
	e.bytes += need
	s.setTaken(dir, e)
	return free, true
}

func (s *storage) setTaken(dir string, e takenEstimate) {
	if s.taken == nil {
		s.taken = map[string]takenEstimate{}
	}
	s.taken[dir] = e
}

// dirOf is the directory of the datastore that holds the local file p
// ("" when none does).
func (s *storage) dirOf(p string) (dir string) {
	s.eachDir(func(_, d, _ string) bool {
		if strings.HasPrefix(filepath.Clean(p), filepath.Clean(d)+string(filepath.Separator)) {
			dir = d
		}
		return dir == ""
	})
	return dir
}

// dirNamed is the directory of the datastore named name ("" when none is).
func (s *storage) dirNamed(name string) (dir string) {
	s.eachDir(func(n, d, _ string) bool {
		if n == name {
			dir = d
		}
		return dir == ""
	})
	return dir
}

// eachDir calls f with each datastore's name, directory and type
// (summary.type) until f returns false.
func (s *storage) eachDir(f func(name, dir, typ string) bool) {
	ctx := &simulator.Context{Map: s.reg}
	for _, o := range s.reg.All("Datastore") {
		ds, ok := o.(*simulator.Datastore)
		if !ok {
			continue
		}
		var name, dir, typ string
		s.reg.WithLock(ctx, ds, func() { name, dir, typ = ds.Name, ds.Info.GetDatastoreInfo().Url, ds.Summary.Type })
		if dir != "" && !f(name, dir, typ) {
			return
		}
	}
}

var questionSeq atomic.Int64

// stun pauses vm (its lock held) with ESXi's out-of-space question for the
// write err refused; true when err was such a refusal.
func stun(reg *simulator.Registry, vm *simulator.VirtualMachine, err error) bool {
	ns, ok := err.(*noSpaceError)
	if !ok {
		return false
	}
	if vm.Runtime.Question != nil {
		return true
	}
	q := &types.VirtualMachineQuestionInfo{
		Id: fmt.Sprintf("ferry-lab-outofspace-%d", questionSeq.Add(1)),
		Text: fmt.Sprintf("There is no more space for virtual disk %s. You might be able to continue this session by freeing disk space on the relevant volume, and clicking Retry. Click Cancel to terminate this session.",
			filepath.Base(ns.file)),
		Choice: types.ChoiceOption{ChoiceInfo: []types.BaseElementDescription{
			&types.ElementDescription{Description: types.Description{Label: "Cancel", Summary: "Cancel"}, Key: "0"},
			&types.ElementDescription{Description: types.Description{Label: "Retry", Summary: "Retry"}, Key: "1"},
		}, DefaultIndex: 1},
	}
	vm.Runtime.Question = q
	vm.Summary.Runtime.Question = q
	reg.Update(&simulator.Context{Map: reg}, vm, []types.PropertyChange{{Name: "runtime.question", Val: q}, {Name: "summary.runtime.question", Val: q}})
	return true
}

// installAnswers makes vc answer its VMs' questions (AnswerVM, which stock
// vcsim does not implement): Retry (key "1") lets a paused VM run again
// (a write that still finds no space pauses it again), Cancel ("0") powers
// it off.
func installAnswers(vc *VCenter) {
	simwrap.Wrap(vc.Model.Map(), "VirtualMachine", []string{"AnswerVM"}, func(ctx *simulator.Context, obj mo.Reference) mo.Reference {
		if vm, ok := obj.(*simulator.VirtualMachine); ok {
			return &answeringVM{VirtualMachine: vm, OwnEntity: simwrap.Entity(ctx, vm)}
		}
		return nil
	})
}

type answeringVM struct {
	*simulator.VirtualMachine
	simwrap.OwnEntity
}

// AnswerVM is called with the VM's lock held.
func (w *answeringVM) AnswerVM(ctx *simulator.Context, req *types.AnswerVM) (res soap.HasFault) {
	body := &methods.AnswerVMBody{}
	defer simwrap.Recovered(&res, body, &body.Fault_)
	vm := w.VirtualMachine
	q := vm.Runtime.Question
	if q == nil || q.Id != req.QuestionId {
		body.Fault_ = simulator.Fault("no such question pending", &types.InvalidArgument{InvalidProperty: "questionId"})
		return body
	}
	changes := []types.PropertyChange{{Name: "runtime.question", Val: nil}, {Name: "summary.runtime.question", Val: nil}}
	switch req.AnswerChoice {
	case "1": // Retry
	case "0": // Cancel: the VM is powered off
		changes = append(changes,
			types.PropertyChange{Name: "runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff},
			types.PropertyChange{Name: "summary.runtime.powerState", Val: types.VirtualMachinePowerStatePoweredOff})
	default:
		body.Fault_ = simulator.Fault("choice must be 0 (Cancel) or 1 (Retry)", &types.InvalidArgument{InvalidProperty: "answerChoice"})
		return body
	}
	vm.Runtime.Question, vm.Summary.Runtime.Question = nil, nil
	ctx.Update(vm, changes)
	body.Res = new(types.AnswerVMResponse)
	return body
}

// GuestWrite writes p at off into the first disk of the on-prem VM named vm,
// as its guest would (what the lab's workload does at its rate): a write
// that finds the datastore full pauses the VM (its question pending) and
// fails, as do writes to a paused or powered-off VM.
func (l *Lab) GuestWrite(vm string, p []byte, off int64) error {
	reg := l.OnPrem.Model.Map()
	var v *simulator.VirtualMachine
	for _, o := range reg.All("VirtualMachine") {
		if m, ok := o.(*simulator.VirtualMachine); ok && m.Name == vm {
			v = m
		}
	}
	if v == nil {
		return fmt.Errorf("no on-prem VM %q", vm)
	}
	var err error
	reg.WithLock(&simulator.Context{Map: reg}, v, func() {
		switch {
		case v.Runtime.PowerState != types.VirtualMachinePowerStatePoweredOn:
			err = fmt.Errorf("VM %s is not running", vm)
			return
		case v.Runtime.Question != nil:
			err = fmt.Errorf("VM %s is paused: %s", vm, v.Runtime.Question.Text)
			return
		}
		var file string
		for _, d := range v.Config.Hardware.Device {
			if vd, ok := d.(*types.VirtualDisk); ok {
				if b, ok := vd.Backing.(*types.VirtualDiskFlatVer2BackingInfo); ok {
					file, err = dsfile.Flat(l.OnPrem.Model, cbt.BaseFile(b))
					break
				}
			}
		}
		if err != nil || file == "" {
			err = fmt.Errorf("VM %s: no flat disk to write (%v)", vm, err)
			return
		}
		if err = l.guestWrite(file, p, off); err != nil {
			stun(reg, v, err)
		}
	})
	return err
}
