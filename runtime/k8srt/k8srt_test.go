package k8srt_test

// These tests run against client-go's fake clientset: no API server can
// run on the machines this is tested on. The fake stores objects and
// serves watches but runs no controller and no kubelet, so each test
// plays their part: it creates the Job's pod and moves it (and the Job)
// through the states a cluster would. The fake serves a pod's log as
// "fake logs", or what a reactor returns, whole and at once.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/k8srt"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var update = flag.Bool("update", false, "rewrite the golden manifests in testdata")

const ns = "jobs"

// attemptLog is a log a test can read while the Job runs.
type attemptLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *attemptLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *attemptLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// cluster is a fake clientset and a handler on it.
type cluster struct {
	t   *testing.T
	cli *fake.Clientset
	h   *k8srt.Handler
	log *attemptLog
}

func newCluster(t *testing.T, cfg k8srt.Config) *cluster {
	cli := fake.NewClientset()
	cfg.Client = cli
	if cfg.Namespace == "" {
		cfg.Namespace = ns
	}
	return &cluster{t: t, cli: cli, h: k8srt.New(cfg), log: &attemptLog{}}
}

// run is a Handle call in progress.
type run struct {
	out  loom.Values
	err  error
	done chan struct{}
	job  *batchv1.Job
}

// start calls Handle as attempt 1 of task id and returns once its Job
// exists.
func (c *cluster) start(ctx context.Context, id string, in loom.Values) *run {
	c.t.Helper()
	w, err := c.cli.BatchV1().Jobs(metav1.NamespaceAll).Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	defer w.Stop()
	ctx = loom.ContextWithAttempt(ctx, loom.AttemptInfo{RunID: id, Attempt: 1, MaxAttempts: 1})
	ctx = loom.ContextWithLogWriter(ctx, c.log)
	r := &run{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.out, r.err = c.h.Handle(ctx, in)
	}()
	for {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Added {
				r.job = ev.Object.(*batchv1.Job)
				return r
			}
		case <-r.done:
			c.t.Fatalf("Handle returned before creating a job: %v, %v", r.out, r.err)
		}
	}
}

func (r *run) wait() (loom.Values, error) {
	<-r.done
	return r.out, r.err
}

// pod creates the pod the Job controller would, Pending.
func (c *cluster) pod(job *batchv1.Job) *corev1.Pod {
	c.t.Helper()
	labels := map[string]string{"batch.kubernetes.io/job-name": job.Name, "job-name": job.Name}
	for k, v := range job.Spec.Template.Labels {
		labels[k] = v
	}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: job.Name + "-x7k2p", Namespace: job.Namespace, Labels: labels},
		Spec:       *job.Spec.Template.Spec.DeepCopy(),
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: k8srt.ContainerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		}}},
	}
	p, err := c.cli.CoreV1().Pods(job.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// set moves a pod to the phase and container state given, as the kubelet
// would.
func (c *cluster) set(p *corev1.Pod, phase corev1.PodPhase, state corev1.ContainerState) *corev1.Pod {
	c.t.Helper()
	p = p.DeepCopy()
	p.Status.Phase = phase
	p.Status.ContainerStatuses[0].State = state
	p, err := c.cli.CoreV1().Pods(p.Namespace).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func terminated(code int32, reason, msg string) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}
}

// jobCondition sets a condition on the Job, as the Job controller would.
func (c *cluster) jobCondition(job *batchv1.Job, t batchv1.JobConditionType, reason string) {
	c.t.Helper()
	j, err := c.cli.BatchV1().Jobs(job.Namespace).Get(context.Background(), job.Name, metav1.GetOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	j.Status.Conditions = append(j.Status.Conditions, batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: "set by the test"})
	if _, err := c.cli.BatchV1().Jobs(job.Namespace).UpdateStatus(context.Background(), j, metav1.UpdateOptions{}); err != nil {
		c.t.Fatal(err)
	}
}

// serveLog makes the fake serve text as every pod's log.
func (c *cluster) serveLog(text string) {
	c.cli.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "log" {
			return false, nil, nil
		}
		return true, &runtime.Unknown{Raw: []byte(text)}, nil
	})
}

// did lists the verbs the handler sent for resource (with subresource
// after a slash), in order.
func (c *cluster) did(resource string) []string {
	var out []string
	for _, a := range c.cli.Actions() {
		r := a.GetResource().Resource
		if a.GetSubresource() != "" {
			r += "/" + a.GetSubresource()
		}
		if r == resource {
			out = append(out, a.GetVerb())
		}
	}
	return out
}

// deleted returns the propagation of the delete of the Job, or "" when it
// was not deleted.
func (c *cluster) deleted(name string) metav1.DeletionPropagation {
	for _, a := range c.cli.Actions() {
		if d, ok := a.(k8stesting.DeleteAction); ok && d.GetResource().Resource == "jobs" && d.GetName() == name {
			if p := d.GetDeleteOptions().PropagationPolicy; p != nil {
				return *p
			}
			return "unset"
		}
	}
	return ""
}

func in(extra map[string]any) loom.Values {
	v := loom.Values{"image": "registry.example/tools:1", "command": []string{"sh", "-c"}, "args": []string{"echo hi"}}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

func TestCompletesWithLog(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	r := c.start(context.Background(), "1f0e6c1a-4a8b-4e7e-9d43-1c2f2e9e8a10", in(nil))
	if r.job.Namespace != ns || r.job.Labels[k8srt.LabelTask] != "1f0e6c1a-4a8b-4e7e-9d43-1c2f2e9e8a10" || r.job.Labels[k8srt.LabelAttempt] != "1" ||
		r.job.Labels[k8srt.LabelManagedBy] != "loom" || *r.job.Spec.BackoffLimit != 0 {
		t.Errorf("job %s/%s labels %v backoffLimit %d", r.job.Namespace, r.job.Name, r.job.Labels, *r.job.Spec.BackoffLimit)
	}
	p := c.pod(r.job)
	p = c.set(p, corev1.PodRunning, running())
	c.set(p, corev1.PodSucceeded, terminated(0, "Completed", ""))
	out, err := r.wait()
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	// "fake logs" is what client-go's fake clientset serves as any log.
	if out["exit_code"] != 0 || out["log"] != "fake logs" || out["job"] != r.job.Name || out["pod"] != p.Name {
		t.Errorf("output %v", out)
	}
	if got := c.log.String(); got != "fake logs" {
		t.Errorf("attempt log %q, want the pod's log", got)
	}
	if got := strings.Join(c.did("pods/log"), ","); got != "get" {
		t.Errorf("pod log requests %q, want one get", got)
	}
	// The first watch is the test's own, which waits for the Job.
	if got := strings.Join(c.did("jobs"), ","); got != "watch,create,watch,get" {
		t.Errorf("job requests %s, want a create, a watch, and a get once the pod ended", got)
	}
	if p := c.deleted(r.job.Name); p != "" {
		t.Errorf("a completed job was deleted (%s); it is left to its TTL", p)
	}
}

func TestFailsWithExitCodeAndLastLines(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	var log strings.Builder
	for i := 1; i <= 12; i++ {
		log.WriteString("line " + string(rune('a'-1+i)) + "\n")
	}
	c.serveLog(log.String())
	r := c.start(context.Background(), "fails", in(nil))
	p := c.pod(r.job)
	p = c.set(p, corev1.PodRunning, running())
	c.set(p, corev1.PodFailed, terminated(3, "Error", "ignored: the log was read"))
	_, err := r.wait()
	var ee *k8srt.ExitError
	if !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("error %v, want an ExitError with code 3", err)
	}
	if !strings.HasPrefix(ee.Log, "line c\n") || !strings.HasSuffix(ee.Log, "line l") || !strings.Contains(err.Error(), "exit status 3: log: line c") {
		t.Errorf("error %q: want the code and the last 10 lines of the log", err)
	}
	if loom.IsPermanent(err) {
		t.Error("an exit code is permanent; a retry policy should retry it")
	}
	if got := c.log.String(); got != log.String() {
		t.Errorf("attempt log %q, want the pod's log", got)
	}
	if p := c.deleted(r.job.Name); p != "" {
		t.Errorf("a failed job was deleted (%s); it is left to its TTL", p)
	}
}

func TestFailureWithoutLogUsesTerminationMessage(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	c.serveLog("")
	r := c.start(context.Background(), "nolog", in(nil))
	p := c.pod(r.job)
	c.set(p, corev1.PodFailed, terminated(2, "Error", "no such file\n"))
	_, err := r.wait()
	var ee *k8srt.ExitError
	if !errors.As(err, &ee) || ee.Code != 2 || ee.Log != "no such file" {
		t.Fatalf("error %v, want exit status 2 with the termination message", err)
	}
}

func TestOOMKilled(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	r := c.start(context.Background(), "oom", in(map[string]any{"memory": "64Mi"}))
	p := c.pod(r.job)
	p = c.set(p, corev1.PodRunning, running())
	c.set(p, corev1.PodFailed, terminated(137, "OOMKilled", ""))
	_, err := r.wait()
	if !errors.Is(err, k8srt.ErrOOMKilled) || !strings.Contains(err.Error(), "exit status 137 (OOMKilled)") {
		t.Fatalf("error %v, want ErrOOMKilled naming the code and the reason", err)
	}
}

func TestImagePullErrorDeletesJob(t *testing.T) {
	for _, reason := range []string{"ImagePullBackOff", "ErrImageNeverPull"} {
		t.Run(reason, func(t *testing.T) {
			c := newCluster(t, k8srt.Config{})
			r := c.start(context.Background(), "pull-"+strings.ToLower(reason), in(nil))
			p := c.pod(r.job)
			c.set(p, corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: `pull "registry.example/tools:1": not found`}})
			_, err := r.wait()
			if !errors.Is(err, k8srt.ErrImagePull) || !strings.Contains(err.Error(), reason) || !strings.Contains(err.Error(), "not found") {
				t.Fatalf("error %v, want ErrImagePull with the kubelet's reason and message", err)
			}
			if got, want := loom.IsPermanent(err), reason == "ErrImageNeverPull"; got != want {
				t.Errorf("permanent %v, want %v", got, want)
			}
			// The pod would wait for its image for ever: the Job goes.
			if p := c.deleted(r.job.Name); p != metav1.DeletePropagationBackground {
				t.Errorf("job delete propagation %q, want Background", p)
			}
		})
	}
}

func TestContainerConfigError(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	r := c.start(context.Background(), "root-image", in(nil))
	p := c.pod(r.job)
	c.set(p, corev1.PodPending, corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "CreateContainerConfigError", Message: "container has runAsNonRoot and image will run as root"}})
	_, err := r.wait()
	if !errors.Is(err, k8srt.ErrContainerConfig) || !strings.Contains(err.Error(), "runAsNonRoot") {
		t.Fatalf("error %v, want ErrContainerConfig with the kubelet's message", err)
	}
	if p := c.deleted(r.job.Name); p != metav1.DeletePropagationBackground {
		t.Errorf("job delete propagation %q, want Background", p)
	}
}

func TestDeadlineExceeded(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	r := c.start(context.Background(), "slow", in(map[string]any{"active_deadline": 60}))
	if d := r.job.Spec.ActiveDeadlineSeconds; d == nil || *d != 60 {
		t.Fatalf("activeDeadlineSeconds %v, want 60", d)
	}
	p := c.pod(r.job)
	c.set(p, corev1.PodRunning, running())
	c.jobCondition(r.job, batchv1.JobFailed, batchv1.JobReasonDeadlineExceeded)
	_, err := r.wait()
	if !errors.Is(err, k8srt.ErrDeadlineExceeded) || !errors.Is(err, loom.ErrTimeout) || !strings.Contains(err.Error(), "60s") {
		t.Fatalf("error %v, want ErrDeadlineExceeded and loom.ErrTimeout after 60s", err)
	}
	if p := c.deleted(r.job.Name); p != "" {
		t.Errorf("a job the cluster failed was deleted (%s); it is left to its TTL", p)
	}
}

// TestDeadlineBeatsExitCode: the controller kills the pod of a Job past
// its deadline, which then fails with a signal's exit code; the error
// names the deadline.
func TestDeadlineBeatsExitCode(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	r := c.start(context.Background(), "killed", in(map[string]any{"active_deadline": 5}))
	p := c.pod(r.job)
	p = c.set(p, corev1.PodRunning, running())
	c.jobCondition(r.job, batchv1.JobFailureTarget, batchv1.JobReasonDeadlineExceeded)
	c.set(p, corev1.PodFailed, terminated(143, "Error", ""))
	_, err := r.wait()
	if !errors.Is(err, k8srt.ErrDeadlineExceeded) {
		t.Fatalf("error %v, want ErrDeadlineExceeded", err)
	}
}

// TestDeadlineGuard: when the cluster does not end a Job at its deadline
// (the fake runs no controller), the handler deletes it once the grace
// has passed too.
func TestDeadlineGuard(t *testing.T) {
	c := newCluster(t, k8srt.Config{DeadlineGrace: 1})
	r := c.start(context.Background(), "stuck", in(map[string]any{"active_deadline": 1}))
	_, err := r.wait()
	if !errors.Is(err, k8srt.ErrDeadlineExceeded) || !errors.Is(err, loom.ErrTimeout) {
		t.Fatalf("error %v, want ErrDeadlineExceeded and loom.ErrTimeout", err)
	}
	if p := c.deleted(r.job.Name); p != metav1.DeletePropagationBackground {
		t.Errorf("job delete propagation %q, want Background", p)
	}
}

func TestCancelDeletesJob(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := c.start(ctx, "cancelled", in(nil))
	p := c.pod(r.job)
	c.set(p, corev1.PodRunning, running())
	cancel()
	_, err := r.wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if p := c.deleted(r.job.Name); p != metav1.DeletePropagationBackground {
		t.Errorf("job delete propagation %q, want Background", p)
	}
	if _, err := c.cli.BatchV1().Jobs(ns).Get(context.Background(), r.job.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("job after cancel: %v, want not found", err)
	}
}

// TestWatchClosedIsResumed: an API server closes watches after a while;
// the handler watches again and sees the state it missed.
func TestWatchClosedIsResumed(t *testing.T) {
	c := newCluster(t, k8srt.Config{})
	first := watch.NewFake()
	var once sync.Once
	c.cli.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		handled := false
		once.Do(func() { handled = true })
		if handled {
			return true, first, nil
		}
		return false, nil, nil
	})
	r := c.start(context.Background(), "rewatch", in(nil))
	p := c.pod(r.job)
	first.Stop() // the server ends the first watch before the pod's events
	c.set(p, corev1.PodSucceeded, terminated(0, "Completed", ""))
	if out, err := r.wait(); err != nil || out["exit_code"] != 0 {
		t.Fatalf("Handle = %v, %v", out, err)
	}
	if n := len(c.did("pods")); n < 2 {
		t.Errorf("%d pod watches, want a second one", n)
	}
}

func TestCreateErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		permanent bool
	}{
		{"invalid", apierrors.NewInvalid(schema.GroupKind{Group: "batch", Kind: "Job"}, "x", nil), true},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Group: "batch", Resource: "jobs"}, "x", errors.New("RBAC")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, k8srt.Config{})
			c.cli.PrependReactor("create", "jobs", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, tc.err
			})
			_, err := c.h.Handle(context.Background(), in(nil))
			if err == nil || !strings.Contains(err.Error(), "create job") || loom.IsPermanent(err) != tc.permanent {
				t.Fatalf("error %v (permanent %v), want a create error, permanent %v", err, loom.IsPermanent(err), tc.permanent)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	c := newCluster(t, k8srt.Config{AllowNamespaces: []string{"batch"}})
	for _, tc := range []struct {
		in   loom.Values
		want string
	}{
		{loom.Values{"command": []string{"true"}}, `"image": required`},
		{in(map[string]any{"volumes": []any{map[string]any{"hostPath": "/"}}}), `unknown key "volumes"`},
		{in(map[string]any{"privileged": true}), `unknown key "privileged"`},
		{in(map[string]any{"memory": "256m"}), `"memory": "256m" is not a Kubernetes quantity of at least 1Mi`},
		{in(map[string]any{"cpus": -1}), `"cpus"`},
		{in(map[string]any{"active_deadline": 1.5}), `"active_deadline": 1.5 is not a whole number`},
		{in(map[string]any{"pull": "sometimes"}), `"pull": "sometimes"`},
		{in(map[string]any{"env": map[string]string{"A=B": "x"}}), `"env": "A=B"`},
		{in(map[string]any{"namespace": "kube-system"}), `namespace "kube-system": namespace not allowed (allowed: jobs, batch)`},
		{in(map[string]any{"namespace": "Bad_NS"}), `"namespace": "Bad_NS"`},
		{in(map[string]any{"run_as_user": -1}), `"run_as_user": -1`},
	} {
		_, err := c.h.Handle(context.Background(), tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !loom.IsPermanent(err) {
			t.Errorf("input %v: %v, want a permanent error containing %s", tc.in, err, tc.want)
		}
	}
	if errors.Is(nil, k8srt.ErrNamespaceNotAllowed) || len(c.cli.Actions()) != 0 {
		t.Errorf("bad input reached the API server: %v", c.cli.Actions())
	}
}

func TestAllowedNamespace(t *testing.T) {
	c := newCluster(t, k8srt.Config{AllowNamespaces: []string{"batch"}})
	r := c.start(context.Background(), "elsewhere", in(map[string]any{"namespace": "batch"}))
	if r.job.Namespace != "batch" {
		t.Errorf("job in %q, want batch", r.job.Namespace)
	}
	c.set(c.pod(r.job), corev1.PodSucceeded, terminated(0, "Completed", ""))
	if _, err := r.wait(); err != nil {
		t.Fatal(err)
	}
}

func TestReap(t *testing.T) {
	c := newCluster(t, k8srt.Config{AllowNamespaces: []string{"batch"}})
	ctx := context.Background()
	// A task id that is no label value is kept whole in the annotation.
	odd := "flow/step #1"
	mk := func(namespace, task string, attempt int, done bool) string {
		j, err := c.h.Manifest(k8srt.Input{Image: "x", Namespace: namespace}, task, attempt)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		}
		if _, err := c.cli.BatchV1().Jobs(j.Namespace).Create(ctx, j, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return j.Name
	}
	orphan := mk("", "gone", 1, false)
	oddOrphan := mk("batch", odd, 2, false)
	alive := mk("", "alive", 3, false)
	retried := mk("", "alive", 2, false) // an earlier attempt of a running task
	finished := mk("", "gone-too", 1, true)
	other := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "not-loom", Namespace: ns}}
	if _, err := c.cli.BatchV1().Jobs(ns).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var asked []string
	n, err := k8srt.Reap(ctx, c.cli, c.h.Namespaces(), func(_ context.Context, id string, attempt int) (bool, error) {
		asked = append(asked, id)
		return id == "alive" && attempt == 3, nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Reap = %d, %v; want 3 jobs deleted", n, err)
	}
	for _, name := range []string{orphan, oddOrphan, retried} {
		if p := c.deleted(name); p != metav1.DeletePropagationBackground {
			t.Errorf("job %s: delete propagation %q, want Background", name, p)
		}
	}
	for _, name := range []string{alive, finished, "not-loom"} {
		if p := c.deleted(name); p != "" {
			t.Errorf("job %s deleted, want it kept", name)
		}
	}
	if !strings.Contains(strings.Join(asked, ","), odd) {
		t.Errorf("reaper asked about %v, want the whole id %q among them", asked, odd)
	}
}

// TestManifestGolden compares the Jobs built for a full input and for the
// least input with testdata; go test -run Golden -update rewrites them.
func TestManifestGolden(t *testing.T) {
	h := k8srt.New(k8srt.Config{Namespace: ns, AllowNamespaces: []string{"batch"}})
	uid := int64(1000)
	for _, tc := range []struct {
		file string
		in   k8srt.Input
	}{
		{"job-minimal.json", k8srt.Input{Image: "registry.example/tools:1"}},
		{"job-full.json", k8srt.Input{
			Image: "registry.example/tools:1", Command: []string{"sh", "-c"}, Args: []string{"echo $GREETING"},
			Env: map[string]string{"GREETING": "hi", "A": "1"}, Workdir: "/work", Namespace: "batch",
			CPUs: 0.5, Memory: "256Mi", ServiceAccount: "reporter", AutomountServiceAccountToken: true,
			RunAsUser: &uid, Pull: k8srt.PullAlways, ActiveDeadline: 600,
		}},
	} {
		job, err := h.Manifest(tc.in, "0b9c7e2e-5d1f-4c8e-a0f4-2f6c3f1d9b77", 2)
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.MarshalIndent(job, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, '\n')
		path := filepath.Join("testdata", tc.file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the Job built:\n%s", path, got)
		}
	}
}

// TestManifestIsLocked checks the safe defaults themselves, beside the
// golden files: whatever the input, no volume, no privilege, no host
// namespace, and no token unless asked.
func TestManifestIsLocked(t *testing.T) {
	h := k8srt.New(k8srt.Config{})
	job, err := h.Manifest(k8srt.Input{Image: "x"}, "t", 1)
	if err != nil {
		t.Fatal(err)
	}
	spec := job.Spec.Template.Spec
	ctr := spec.Containers[0]
	sc := ctr.SecurityContext
	switch {
	case len(spec.Volumes) != 0 || len(ctr.VolumeMounts) != 0:
		t.Error("volumes")
	case spec.HostNetwork || spec.HostPID || spec.HostIPC:
		t.Error("host namespaces")
	case *sc.Privileged || *sc.AllowPrivilegeEscalation || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL":
		t.Errorf("container security context %+v", sc)
	case !*spec.SecurityContext.RunAsNonRoot || spec.SecurityContext.RunAsUser != nil:
		t.Error("runAsNonRoot is not the default")
	case *spec.AutomountServiceAccountToken || *spec.EnableServiceLinks:
		t.Error("token or service links by default")
	case spec.RestartPolicy != corev1.RestartPolicyNever || *job.Spec.BackoffLimit != 0 || *job.Spec.TTLSecondsAfterFinished != 3600:
		t.Error("restart, backoff or TTL")
	case job.Namespace != k8srt.DefaultNamespace || ctr.ImagePullPolicy != corev1.PullIfNotPresent:
		t.Error("namespace or pull policy defaults")
	}
	if len(job.Name) > 52 {
		t.Errorf("job name %q", job.Name)
	}
	long, _ := h.Manifest(k8srt.Input{Image: "x"}, strings.Repeat("Very/Long ", 20), 12)
	if len(long.Name) > 52 || !strings.HasPrefix(long.Name, "loom-") || !strings.HasSuffix(long.Name, "-12") ||
		len(long.Labels[k8srt.LabelTask]) > 63 {
		t.Errorf("job of a long odd id: name %q, label %q", long.Name, long.Labels[k8srt.LabelTask])
	}
}
