package vcdsim

import (
	"net/http"
	"time"

	"github.com/vmware/go-vcloud-director/v2/types/v56"
)

// task is an asynchronous operation. The work itself is done when the task
// is created (so that errors surface early); finish commits what clients
// should only see once the task has succeeded (for example the status of an
// imported vApp). A task answers "running" for polls GETs, then completes;
// a task with no polls left also completes at the next request of any kind
// (see settle), so clients that never poll still see the result.
type task struct {
	id        string
	name      string // operationName, e.g. "vappDeploy"
	operation string // human readable
	owner     types.Reference
	org       *org
	user      string
	details   string
	polls     int
	finish    func() error
	status    string
	errMsg    string
	start     time.Time
	end       time.Time
	// notBefore: the task runs at least until then (work that takes
	// time in Cloud Director, such as a disk copy, and at least
	// Config.TaskTime for any task).
	notBefore time.Time
	// locks are the entities (urns) the task holds while it runs: its
	// owner (with a VM its vApp, with a vApp its VMs) and what else the
	// operation changes (Server.lock). Another change of one of them is
	// refused BUSY_ENTITY until the task ends (busy.go).
	locks []string
}

func (m *model) newTask(c *reqCtx, name, operation string, owner types.Reference, finish func() error) *task {
	t := &task{
		id:        newUUID(),
		name:      name,
		operation: operation,
		owner:     owner,
		polls:     c.s.cfg.TaskPolls,
		finish:    finish,
		status:    "running",
		start:     time.Now(),
	}
	t.notBefore = t.start.Add(c.s.cfg.TaskTime)
	t.locks = m.expand(owner.ID)
	if c.sess != nil {
		t.org, t.user = c.sess.org, c.sess.user
	}
	m.pruneTasks()
	m.tasks[t.id] = t
	m.running[t.id] = t
	return t
}

// runsAtLeast makes the task run for d at least from its start.
func (t *task) runsAtLeast(d time.Duration) {
	if end := t.start.Add(d); end.After(t.notBefore) {
		t.notBefore = end
	}
}

// poll advances the task by one GET.
func (t *task) poll() {
	if t.status != "running" || time.Now().Before(t.notBefore) {
		return
	}
	if t.polls > 0 {
		t.polls--
		return
	}
	t.status = "success"
	if t.finish != nil {
		if err := t.finish(); err != nil {
			t.status, t.errMsg = "error", err.Error()
		}
	}
	t.end = time.Now()
}

// settle completes the running tasks that have no polls left.
func (m *model) settle() {
	for id, t := range m.running {
		if t.polls <= 0 {
			t.poll()
		}
		if t.status != "running" {
			delete(m.running, id)
		}
	}
}

func (c *reqCtx) taskXML(t *task) *types.Task {
	x := &types.Task{
		HREF:          c.abs("/api/task/" + t.id),
		Type:          mimeTask,
		ID:            urn("task", t.id),
		Name:          "task",
		Status:        t.status,
		Operation:     t.operation,
		OperationName: t.name,
		StartTime:     t.start.UTC().Format(time.RFC3339Nano),
		ExpiryTime:    t.start.Add(24 * time.Hour).UTC().Format(time.RFC3339Nano),
		Details:       t.details,
		Link:          &types.LinkList{},
	}
	owner := t.owner
	owner.HREF = c.abs(owner.HREF)
	x.Owner = &owner
	if t.org != nil {
		x.Organization = &types.Reference{HREF: c.abs("/api/org/" + t.org.id), Name: t.org.name, Type: mimeOrg, ID: urn("org", t.org.id)}
	}
	if t.user != "" {
		x.User = &types.Reference{Name: t.user, Type: "application/vnd.vmware.admin.user+xml"}
	}
	switch t.status {
	case "running":
		x.Progress = 50
		*x.Link = append(*x.Link, &types.Link{Rel: "task:cancel", HREF: c.abs("/api/task/" + t.id + "/action/cancel")})
	case "success":
		x.Progress = 100
		x.EndTime = t.end.UTC().Format(time.RFC3339Nano)
	case "error":
		x.EndTime = t.end.UTC().Format(time.RFC3339Nano)
		x.Error = &types.Error{MajorErrorCode: 500, MinorErrorCode: "INTERNAL_SERVER_ERROR", Message: t.errMsg}
	}
	return x
}

// tasksInProgress embeds a task in an entity (e.g. a vApp being imported).
func (c *reqCtx) tasksInProgress(t *task) *types.TasksInProgress {
	return &types.TasksInProgress{Task: []*types.Task{c.taskXML(t)}}
}

func handleGetTask(c *reqCtx) {
	t, ok := c.m.tasks[c.r.PathValue("id")]
	if !ok || !c.canSeeOrg(t.org) {
		c.fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "No access to entity \"com.vmware.vcloud.entity.task:%s\".", c.r.PathValue("id"))
		return
	}
	t.poll()
	c.xml(http.StatusOK, mimeTask, "Task", c.taskXML(t))
}

func handleCancelTask(c *reqCtx) {
	t, ok := c.m.tasks[c.r.PathValue("id")]
	if !ok || !c.canSeeOrg(t.org) {
		c.fail(http.StatusNotFound, "RESOURCE_NOT_FOUND", "task %s", c.r.PathValue("id"))
		return
	}
	if t.status == "running" {
		t.status, t.end = "aborted", time.Now()
		delete(c.m.running, t.id)
	}
	c.w.WriteHeader(http.StatusNoContent)
}

// accepted answers an asynchronous OpenAPI call: 202 with the task's
// absolute URL in Location and no body.
func (c *reqCtx) accepted(t *task) {
	c.w.Header().Set("Location", c.abs("/api/task/"+t.id))
	c.w.WriteHeader(http.StatusAccepted)
}

// taskResponse answers an XML API action with its Task (202).
func (c *reqCtx) taskResponse(t *task) {
	c.w.Header().Set("Location", c.abs("/api/task/"+t.id))
	c.xml(http.StatusAccepted, mimeTask, "Task", c.taskXML(t))
}

// pruneTasks forgets tasks that finished more than a day ago, like vCD
// (their expiryTime), so a long-running lab does not grow without bound.
func (m *model) pruneTasks() {
	for id, t := range m.tasks {
		if t.status != "running" && !t.end.IsZero() && time.Since(t.end) > 24*time.Hour {
			delete(m.tasks, id)
		}
	}
}
