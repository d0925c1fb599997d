package lab

import (
	"github.com/ferry-migrate/ferry/lab/simwrap"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

// Users as vCenter names them. A vCenter SSO account logs in as
// user@domain ("administrator@vsphere.local"), and vCenter then names it
// DOMAIN\user, the domain upper-cased: its session's user
// (UserSession.userName, "VSPHERE.LOCAL\Administrator"), the user of the
// events it posts and of the tasks it begins (TaskInfo.reason, a
// TaskReasonUser). Stock vcsim keeps the login name as given for the
// session and names "vcsim" the user of every task.

// FerryPrincipal is FerryUser as vCenter names it once logged in: its
// sessions' user and the user of the tasks they begin.
const FerryPrincipal = `VSPHERE.LOCAL\ferry`

// AdminPrincipal is the administrator (VCenter.Username) as vCenter names
// it once logged in.
const AdminPrincipal = `VSPHERE.LOCAL\Administrator`

// vcsimTaskUser is the user vcsim names for every task it begins.
const vcsimTaskUser = "vcsim"

// namePrincipals makes reg's vCenter name each session by its account's
// principal (logins maps a login name to it): the Login request's user
// name is rewritten before vcsim takes it, so that vcsim's session, its
// sessionList and SessionIsActive know the principal. A login that names
// the principal itself is taken as is (vCenter takes DOMAIN\user too).
func namePrincipals(reg *simulator.Registry, logins map[string]string) {
	simwrap.WrapCalls(reg, func(prev simwrap.Handler) simwrap.Handler {
		return func(ctx *simulator.Context, method *simulator.Method) (mo.Reference, types.BaseMethodFault) {
			if req, ok := method.Body.(*types.Login); ok {
				if p, known := logins[req.UserName]; known {
					req.UserName = p
				}
			}
			if prev != nil {
				return prev(ctx, method)
			}
			return nil, nil
		}
	})
	reg.AddHandler(&taskUsers{reg: reg})
}

// taskUsers names who began each task, as vCenter does (TaskInfo.reason):
// a logged-in session's task the session's user (TaskReasonUser), a task
// vCenter begins itself, with no user's session (the lab's own models: an
// import whose lease timed out or was aborted removes its VM), the system
// (TaskReasonSystem, "the task was started by the system"). vcsim names
// the user "vcsim" for every task. It does so as the task starts running
// (its first update, made with the context of the call that began it),
// before the call answers.
type taskUsers struct {
	reg *simulator.Registry
}

// Reference implements simulator.RegisterObject.
func (u *taskUsers) Reference() types.ManagedObjectReference {
	return types.ManagedObjectReference{Type: "FerryLabTaskUsers", Value: "task-users"}
}

func (u *taskUsers) PutObject(*simulator.Context, mo.Reference)                    {}
func (u *taskUsers) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

// UpdateObject names who began a task that starts running, if vcsim named
// its user: the user of the logged-in session whose call began it, or the
// system.
func (u *taskUsers) UpdateObject(ctx *simulator.Context, obj mo.Reference, changes []types.PropertyChange) {
	task, ok := obj.(*mo.Task)
	if !ok || ctx == nil || task.Info.State != types.TaskInfoStateRunning {
		return
	}
	if r, ok := task.Info.Reason.(*types.TaskReasonUser); !ok || r.UserName != vcsimTaskUser {
		return
	}
	started := false
	for _, c := range changes {
		started = started || c.Name == "info.state"
	}
	if !started {
		return
	}
	var reason types.BaseTaskReason = &types.TaskReasonSystem{}
	if ctx.Session != nil && u.loggedIn(ctx.Session) {
		reason = &types.TaskReasonUser{UserName: ctx.Session.UserName}
	}
	// Under the task's lock (vcsim updates its task under it).
	ctx.Map.Update(ctx, task, []types.PropertyChange{{Name: "info.reason", Val: reason}})
}

// loggedIn says whether s is a session vCenter's SessionManager keeps (a
// login, not one of the lab's own models).
func (u *taskUsers) loggedIn(s *simulator.Session) bool {
	if s.Key == "" || s.UserName == "" {
		return false
	}
	res := u.reg.SessionManager().SessionIsActive(&simulator.Context{Map: u.reg}, &types.SessionIsActive{SessionID: s.Key, UserName: s.UserName})
	b, ok := res.(*methods.SessionIsActiveBody)
	return ok && b.Res != nil && b.Res.Returnval
}
