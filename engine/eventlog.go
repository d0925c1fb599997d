package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dustin/go-humanize"

	"github.com/ferry-migrate/ferry/replication"
	"github.com/ferry-migrate/ferry/steps"
)

// DefaultEventLogMax is the size at which the event log is rotated;
// DefaultEventLogKeep how many rotated files are kept (events.jsonl.1 ..).
const (
	DefaultEventLogMax  = 16 << 20
	DefaultEventLogKeep = 3
)

// Record is one line of the event log.
type Record struct {
	Time    time.Time `json:"time"`
	Source  string    `json:"source"` // "replication", "step", "engine", "ssh", "local"
	Kind    string    `json:"kind"`
	VM      string    `json:"vm,omitempty"`
	Step    string    `json:"step,omitempty"`
	Phase   string    `json:"phase,omitempty"`
	Pass    string    `json:"pass,omitempty"`
	Message string    `json:"message,omitempty"`
	Error   string    `json:"error,omitempty"`
	// Byte counters of a replication pass (pass-done), and its duration.
	Planned int64 `json:"planned,omitempty"`
	Sent    int64 `json:"sent,omitempty"`
	Acked   int64 `json:"acked,omitempty"`
	// Resumed: bytes of the pass an earlier attempt (a killed or stopped
	// ferry) made durable; not in Planned, not sent again.
	Resumed  int64 `json:"resumed,omitempty"`
	Duration int64 `json:"duration_ns,omitempty"`
	// Number is the VM's pass number a pass-done record reports (its
	// complete passes, across ferry processes).
	Number int `json:"number,omitempty"`
	// NextPass is when the scheduler has the VM's next pass due (a
	// scheduled record; a resumed one, or an error after which it tries
	// again).
	NextPass time.Time `json:"next_pass,omitzero"`
}

func replicationRecord(ev replication.Event) Record {
	r := Record{Time: ev.Time, Source: "replication", Kind: string(ev.Kind), VM: ev.VM, Phase: string(ev.Phase), Pass: string(ev.Pass),
		Message: ev.Msg, Planned: ev.Planned, Sent: ev.Sent, Acked: ev.Acked, Resumed: ev.Resumed, NextPass: ev.NextPass,
		Number: ev.Number, Duration: int64(ev.Took)}
	if ev.Err != nil {
		r.Error = ev.Err.Error()
	}
	if ev.Compare != nil {
		r.Message = fmt.Sprintf("full compare: %d blocks compared, %d differing, %d repaired", ev.Compare.Blocks, ev.Compare.Differing, ev.Compare.Repaired)
		r.Duration = int64(ev.Compare.Duration)
	}
	return r
}

func stepRecord(ev steps.Event) Record {
	return Record{Time: ev.Time, Source: "step", Kind: string(ev.Kind), Step: ev.Step, Message: ev.Message, Error: ev.Error}
}

// EventLog appends records as JSON lines to a file (0600), rotating it at
// max bytes: file -> file.1 -> file.2 ..., keeping keep old files.
type EventLog struct {
	path string
	max  int64
	keep int

	mu   sync.Mutex
	f    *os.File
	size int64
	err  error // the last write error, logged once
}

// OpenEventLog opens (appends to) the event log at path.
func OpenEventLog(path string, max int64, keep int) (*EventLog, error) {
	if max <= 0 {
		max = DefaultEventLogMax
	}
	if keep <= 0 {
		keep = DefaultEventLogKeep
	}
	l := &EventLog{path: path, max: max, keep: keep}
	if err := l.open(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *EventLog) open() error {
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("event log: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("event log: %w", err)
	}
	l.f, l.size = f, fi.Size()
	return nil
}

// Write appends r (its time set when zero). Errors are kept, not returned:
// replication does not stop because its log cannot be written.
func (l *EventLog) Write(r Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	b, err := json.Marshal(r)
	if err != nil {
		return
	}
	b = append(b, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return
	}
	if l.size+int64(len(b)) > l.max && l.size > 0 {
		l.rotate()
	}
	n, err := l.f.Write(b)
	l.size += int64(n)
	if err != nil {
		l.err = err
	}
}

func (l *EventLog) rotate() {
	l.f.Close()
	for i := l.keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", l.path, i), fmt.Sprintf("%s.%d", l.path, i+1))
	}
	_ = os.Rename(l.path, l.path+".1")
	if err := l.open(); err != nil {
		l.err, l.f = err, nil
	}
}

// Close closes the file.
func (l *EventLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// Follow writes the event log's last n records to out, then every record
// appended to it until ctx ends, across rotations (a file replaced by a new
// one is followed from its start). It polls every interval.
func Follow(ctx context.Context, path string, n int, interval time.Duration, out func(line []byte) error) error {
	f, err := os.Open(path)
	for errors.Is(err, fs.ErrNotExist) {
		// Nothing logged yet: wait for the engine to create it.
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
		f, err = os.Open(path)
	}
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	if err := lastLines(f, n, out); err != nil {
		return err
	}
	r := bufio.NewReader(f)
	var partial []byte
	for {
		line, err := r.ReadBytes('\n')
		partial = append(partial, line...)
		if err == nil {
			if err := out(partial[:len(partial)-1]); err != nil {
				return err
			}
			partial = partial[:0]
			continue
		}
		if err != io.EOF {
			return err
		}
		// At the end: rotated? (the path names another file now)
		if cur, serr := os.Stat(path); serr == nil {
			if fi, ferr := f.Stat(); ferr == nil && !os.SameFile(cur, fi) {
				nf, oerr := os.Open(path)
				if oerr == nil {
					f.Close()
					f, r, partial = nf, bufio.NewReader(nf), partial[:0]
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// lastLines writes the last n complete lines of f and leaves f positioned
// after them.
func lastLines(f *os.File, n int, out func([]byte) error) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	// Read back from the end in chunks until n+1 newlines are found.
	const chunk = 64 << 10
	start := size
	var buf []byte
	for start > 0 {
		step := min(int64(chunk), start)
		start -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return err
		}
		buf = append(b, buf...)
		if countNL(buf) > n {
			break
		}
	}
	// Keep only complete lines: what follows the last newline is read
	// by the follower.
	end := len(buf)
	for end > 0 && buf[end-1] != '\n' {
		end--
	}
	lines := splitLines(buf[:end])
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		if err := out(l); err != nil {
			return err
		}
	}
	_, err = f.Seek(start+int64(end), io.SeekStart)
	return err
}

func countNL(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		out = append(out, b[:i])
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return out
}

// Text is the record as one line for people (ferry status --follow).
func (r Record) Text() string {
	var b strings.Builder
	b.WriteString(r.Time.Local().Format("2006-01-02 15:04:05"))
	for _, s := range []string{r.VM, r.Step} {
		if s != "" {
			b.WriteString(" " + s)
		}
	}
	b.WriteString(" " + r.Kind)
	switch {
	case r.Kind == string(replication.EventPassDone):
		if r.Number > 0 {
			fmt.Fprintf(&b, " #%d", r.Number)
		}
		fmt.Fprintf(&b, " %s pass: %s changed, %s sent", r.Pass, humanize.IBytes(uint64(r.Planned)), humanize.IBytes(uint64(r.Sent)))
		if r.Duration > 0 {
			fmt.Fprintf(&b, " in %s", time.Duration(r.Duration).Round(time.Millisecond))
		}
	case r.Phase != "":
		b.WriteString(" " + r.Phase)
	}
	if r.Message != "" {
		b.WriteString(": " + r.Message)
	}
	if r.Error != "" {
		b.WriteString(": " + r.Error)
	}
	return b.String()
}
