// Package k8srt is the kubernetes runtime: the task type "kubernetes", which
// runs a task as a Kubernetes Job (batch/v1) through client-go. Its input
// names the image and how to run it:
//
//	{"image": "alpine:3", "command": ["sh", "-c"], "args": ["echo hi"],
//	 "env": {"K": "V"}, "workdir": "/work", "namespace": "jobs",
//	 "cpus": 0.5, "memory": "256Mi", "service_account": "reporter",
//	 "automount_service_account_token": false, "run_as_user": 1000,
//	 "pull": "missing", "active_deadline": 600}
//
// The Job is created with backoffLimit 0 (loom's retry policy owns
// retries), restartPolicy Never, ttlSecondsAfterFinished, and the labels
// LabelManagedBy=ManagedBy, LabelTask and LabelAttempt on the Job and its
// pod. The handler watches the Job and its pod to the end, streams the
// pod's log into the attempt's log (loom.LogWriter), and maps the outcome:
// exit code 0 completes the task with {"exit_code": 0, "log": "...",
// "job": ..., "pod": ...}; any other code fails the attempt with an
// *ExitError holding the last lines of the log; an image that cannot be
// pulled, a container killed for its memory limit and a passed
// active_deadline fail with errors matching ErrImagePull, ErrOOMKilled and
// ErrDeadlineExceeded. A cancelled or timed-out task, and a Job the handler
// gives up on, is deleted (propagation Background, so its pod goes too);
// a Job that ended by itself is left to ttlSecondsAfterFinished.
//
// Safe defaults: no volume of any kind (so no host path), no privileged
// container, no privilege escalation, every capability dropped, the
// runtime's default seccomp profile, runAsNonRoot unless the input names a
// user, no service account token unless the input asks for one, no
// service links, and only the namespaces the Config allows. Reap deletes
// the unfinished Jobs of attempts that are no longer running, left behind
// by a process killed mid-run.
package k8srt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/loomhq/loom/runtime/internal/tail"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	batchclient "k8s.io/client-go/kubernetes/typed/batch/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/loomhq/loom"
	"github.com/loomhq/loom/runtime/internal/strict"
)

// TypeName is the task type this runtime is registered under (by a loom
// server or worker only with --allow-kubernetes).
const TypeName = "kubernetes"

// Labels and annotations set on every Job the runtime creates and on its
// pod, so that Reap can find the Jobs of attempts that are gone.
const (
	// LabelManagedBy marks the Jobs loom created, with the value
	// ManagedBy.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "loom"
	// LabelTask holds the id of the task (the attempt's RunID), or a hash
	// of it when the id is not a valid label value; AnnotationTask always
	// holds the id itself.
	LabelTask = "loom.task"
	// LabelAttempt holds the attempt number, from 1.
	LabelAttempt = "loom.attempt"
	// AnnotationTask holds the task id as it is.
	AnnotationTask = "loom.task"
	// ContainerName is the name of the Job's one container.
	ContainerName = "task"
	// jobNameLabel is the label the Job controller puts on a Job's pods.
	jobNameLabel = "batch.kubernetes.io/job-name"
)

// Pull policies of the input's "pull", mapped to the container's
// imagePullPolicy.
const (
	// PullNever runs only an image already on the node (Never).
	PullNever = "never"
	// PullMissing pulls the image when the node does not have it
	// (IfNotPresent): the default.
	PullMissing = "missing"
	// PullAlways pulls the image before every run (Always).
	PullAlways = "always"
)

// Defaults for Config's zero values.
const (
	// DefaultNamespace is where Jobs go when neither the Config nor the
	// input names a namespace.
	DefaultNamespace = "default"
	// DefaultTTLAfterFinished is how long a finished Job is kept for
	// inspection before the cluster deletes it.
	DefaultTTLAfterFinished = time.Hour
	// DefaultMaxOutput is how much of the pod's log the output keeps.
	DefaultMaxOutput = 64 << 10
	// DefaultDeadlineGrace is how long past active_deadline the handler
	// waits for the cluster to end the Job before deleting it itself.
	DefaultDeadlineGrace = 30 * time.Second
	// DefaultLogDrain is how long the handler waits, once the pod has
	// ended, for the rest of its log.
	DefaultLogDrain = 10 * time.Second
	// logLines is how many trailing lines of the log an ExitError holds.
	logLines = 10
	// maxWatchFailures is how many watches in a row may fail to start,
	// a second apart, before the attempt fails.
	maxWatchFailures = 30
	// maxJobName keeps the Job's name short enough for the controller to
	// name its pod after it.
	maxJobName = 52
)

// Errors that the error of a failed attempt matches (errors.Is), so that a
// caller can tell the reasons apart.
var (
	// ErrNamespaceNotAllowed: the input names a namespace the Config does
	// not allow.
	ErrNamespaceNotAllowed = errors.New("namespace not allowed")
	// ErrImagePull: the node could not get the image (ErrImagePull,
	// ImagePullBackOff, ErrImageNeverPull, InvalidImageName).
	ErrImagePull = errors.New("image could not be pulled")
	// ErrOOMKilled: the container was killed for passing its memory limit.
	ErrOOMKilled = errors.New("container killed for exceeding its memory limit")
	// ErrDeadlineExceeded: the Job ran past its active_deadline. The error
	// matches loom.ErrTimeout too.
	ErrDeadlineExceeded = errors.New("active deadline exceeded")
	// ErrContainerConfig: the kubelet could not create the container
	// (CreateContainerConfigError, CreateContainerError), for example an
	// image that runs as root under runAsNonRoot.
	ErrContainerConfig = errors.New("container could not be created")
	// ErrJobFailed: the Job failed without a pod that says why.
	ErrJobFailed = errors.New("job failed")
)

// Client is the part of the API the runtime uses: Jobs and pods. Both a
// kubernetes.Clientset and client-go's fake clientset are one; NewClient
// makes one with only these two groups, which keeps the others' clients
// out of the loom binary.
type Client interface {
	BatchV1() batchclient.BatchV1Interface
	CoreV1() coreclient.CoreV1Interface
}

// Config configures a Handler. Zero values mean the defaults stated on each
// field.
type Config struct {
	// Client talks to the cluster's API server. Required: see NewClient.
	Client Client
	// Namespace is where Jobs are created when the input names none.
	// Default DefaultNamespace.
	Namespace string
	// AllowNamespaces are the other namespaces an input may name. Default:
	// none, so every Job goes to Namespace.
	AllowNamespaces []string
	// TTLAfterFinished is the Jobs' ttlSecondsAfterFinished. Default
	// DefaultTTLAfterFinished.
	TTLAfterFinished time.Duration
	// MaxOutput is how many trailing bytes of the pod's log are returned
	// as the "log" output. Default DefaultMaxOutput (64 KiB).
	MaxOutput int
	// DeadlineGrace is how long past an input's active_deadline the
	// handler waits for the cluster to fail the Job before it deletes the
	// Job itself. Default DefaultDeadlineGrace.
	DeadlineGrace time.Duration
	// LogDrain bounds the wait for the end of the pod's log once the pod
	// has ended. Default DefaultLogDrain.
	LogDrain time.Duration
}

// Handler runs the Job its input describes; see the package documentation.
// It is safe for concurrent use.
type Handler struct {
	cfg Config
}

var _ loom.Handler = (*Handler)(nil)

// New returns a Handler configured by cfg.
func New(cfg Config) *Handler {
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.TTLAfterFinished <= 0 {
		cfg.TTLAfterFinished = DefaultTTLAfterFinished
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.DeadlineGrace <= 0 {
		cfg.DeadlineGrace = DefaultDeadlineGrace
	}
	if cfg.LogDrain <= 0 {
		cfg.LogDrain = DefaultLogDrain
	}
	return &Handler{cfg: cfg}
}

// Namespaces returns the namespaces the handler creates Jobs in: its
// default first, then the others an input may name.
func (h *Handler) Namespaces() []string {
	out := []string{h.cfg.Namespace}
	for _, ns := range h.cfg.AllowNamespaces {
		if !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// Input is the input of a kubernetes task.
type Input struct {
	// Image is the image to run. Required.
	Image string `json:"image"`
	// Command replaces the image's entrypoint when set (no shell: wrap it
	// in ["sh", "-c", "..."] for one).
	Command []string `json:"command,omitempty"`
	// Args replaces the image's arguments when set.
	Args []string `json:"args,omitempty"`
	// Env holds variables set in the container on top of the image's.
	Env map[string]string `json:"env,omitempty"`
	// Workdir is the working directory in the container. Default: the
	// image's.
	Workdir string `json:"workdir,omitempty"`
	// Namespace is where the Job is created: the handler's namespace by
	// default, otherwise one it allows.
	Namespace string `json:"namespace,omitempty"`
	// CPUs is the container's CPU request and limit, in CPUs (0.5 is half
	// of one). Zero: none.
	CPUs float64 `json:"cpus,omitempty"`
	// Memory is the container's memory request and limit as a Kubernetes
	// quantity ("256Mi", "1Gi"). Empty: none.
	Memory string `json:"memory,omitempty"`
	// ServiceAccount is the pod's service account. Default: the
	// namespace's default account.
	ServiceAccount string `json:"service_account,omitempty"`
	// AutomountServiceAccountToken mounts the service account's API token
	// in the pod. Default false: the task gets no credentials to the API.
	AutomountServiceAccountToken bool `json:"automount_service_account_token,omitempty"`
	// RunAsUser runs the container as this user id. Unset, the pod runs
	// with runAsNonRoot, so an image whose user is root is refused by the
	// kubelet; 0 asks for root explicitly.
	RunAsUser *int64 `json:"run_as_user,omitempty"`
	// Pull is the pull policy: PullMissing (the default), PullNever or
	// PullAlways.
	Pull string `json:"pull,omitempty"`
	// ActiveDeadline bounds the Job's run in whole seconds
	// (activeDeadlineSeconds), enforced by the cluster even when loom is
	// gone. Zero: no bound beyond the task's own timeout.
	ActiveDeadline float64 `json:"active_deadline,omitempty"`
}

// ParseInput decodes and checks a kubernetes task's input. Unknown keys
// (such as "volumes" or "privileged", which this runtime does not offer)
// and wrong types are errors.
func ParseInput(v loom.Values) (Input, error) {
	var in Input
	if err := strict.Decode(v, &in); err != nil {
		return Input{}, err
	}
	return in, in.validate()
}

func (in Input) validate() error {
	if strings.TrimSpace(in.Image) == "" {
		return errors.New(`input "image": required`)
	}
	if strings.ContainsAny(in.Image, " \t\n") {
		return fmt.Errorf(`input "image": %q holds white space`, in.Image)
	}
	for k := range in.Env {
		if errs := validation.IsRelaxedEnvVarName(k); len(errs) > 0 {
			return fmt.Errorf(`input "env": %q: %s`, k, errs[0])
		}
	}
	if in.Namespace != "" {
		if errs := validation.IsDNS1123Label(in.Namespace); len(errs) > 0 {
			return fmt.Errorf(`input "namespace": %q: %s`, in.Namespace, errs[0])
		}
	}
	if in.ServiceAccount != "" {
		if errs := validation.IsDNS1123Subdomain(in.ServiceAccount); len(errs) > 0 {
			return fmt.Errorf(`input "service_account": %q: %s`, in.ServiceAccount, errs[0])
		}
	}
	if in.CPUs < 0 || math.IsNaN(in.CPUs) || in.CPUs > 1e6 || in.CPUs > 0 && in.CPUs < 0.001 {
		return fmt.Errorf(`input "cpus": %v is not a number of CPUs, 0 or from 0.001`, in.CPUs)
	}
	if _, err := in.memory(); err != nil {
		return err
	}
	if in.RunAsUser != nil && (*in.RunAsUser < 0 || *in.RunAsUser > math.MaxInt32) {
		return fmt.Errorf(`input "run_as_user": %d is not a user id from 0 to %d`, *in.RunAsUser, math.MaxInt32)
	}
	if _, err := in.pullPolicy(); err != nil {
		return err
	}
	if d := in.ActiveDeadline; d < 0 || math.IsNaN(d) || d != math.Trunc(d) || d > math.MaxInt32 {
		return fmt.Errorf(`input "active_deadline": %v is not a whole number of seconds >= 0`, d)
	}
	return nil
}

// memory parses the input's memory, which must be at least 1Mi: a bare
// number is bytes and "m" is milli in Kubernetes, so "256m" (Docker's
// 256 megabytes) would be a quarter of a byte.
func (in Input) memory() (*resource.Quantity, error) {
	if in.Memory == "" {
		return nil, nil
	}
	q, err := resource.ParseQuantity(in.Memory)
	if err != nil || q.Cmp(resource.MustParse("1Mi")) < 0 {
		return nil, fmt.Errorf(`input "memory": %q is not a Kubernetes quantity of at least 1Mi, such as "256Mi" or "1Gi"`, in.Memory)
	}
	return &q, nil
}

func (in Input) pullPolicy() (corev1.PullPolicy, error) {
	switch in.Pull {
	case "", PullMissing:
		return corev1.PullIfNotPresent, nil
	case PullNever:
		return corev1.PullNever, nil
	case PullAlways:
		return corev1.PullAlways, nil
	}
	return "", fmt.Errorf(`input "pull": %q is not one of %q, %q, %q`, in.Pull, PullMissing, PullNever, PullAlways)
}

// namespace is where the input's Job goes, or ErrNamespaceNotAllowed.
func (h *Handler) namespace(in Input) (string, error) {
	if in.Namespace == "" || in.Namespace == h.cfg.Namespace || slices.Contains(h.cfg.AllowNamespaces, in.Namespace) {
		return cmpOr(in.Namespace, h.cfg.Namespace), nil
	}
	return "", fmt.Errorf("namespace %q: %w (allowed: %s)", in.Namespace, ErrNamespaceNotAllowed, strings.Join(h.Namespaces(), ", "))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// ExitError is the error of a container that exited with a non-zero code.
// It is not permanent: a retry policy retries it like any other failure.
type ExitError struct {
	// Code is the container's exit code.
	Code int
	// Reason is the kubelet's reason for the end ("Error", "OOMKilled").
	Reason string
	// Log is the last lines of the pod's log or, when none could be read,
	// of the container's termination message (which the Job's container
	// fills from its log on failure: FallbackToLogsOnError).
	Log string
}

// Error names the code, the reason when it says more than "Error", and
// the tail of the log.
func (e *ExitError) Error() string {
	s := fmt.Sprintf("exit status %d", e.Code)
	if e.Reason != "" && e.Reason != "Error" {
		s += " (" + e.Reason + ")"
	}
	if e.Log != "" {
		s += ": log: " + e.Log
	}
	return s
}

// Unwrap makes an exit for the memory limit match ErrOOMKilled.
func (e *ExitError) Unwrap() error {
	if e.Reason == "OOMKilled" {
		return ErrOOMKilled
	}
	return nil
}

// Handle runs the Job described by v and waits for it.
func (h *Handler) Handle(ctx context.Context, v loom.Values) (loom.Values, error) {
	in, err := ParseInput(v)
	if err != nil {
		return nil, loom.Permanent(fmt.Errorf("kubernetes: %w", err))
	}
	ns, err := h.namespace(in)
	if err != nil {
		return nil, loom.Permanent(fmt.Errorf("kubernetes: %w", err))
	}
	cli := h.cfg.Client
	if cli == nil {
		return nil, loom.Permanent(errors.New("kubernetes: the handler has no client"))
	}
	task, attempt := uuid.NewString(), 1
	if a, ok := loom.Attempt(ctx); ok {
		task, attempt = a.RunID, a.Attempt
	}
	job, err := h.Manifest(in, task, attempt)
	if err != nil {
		return nil, loom.Permanent(fmt.Errorf("kubernetes: %w", err))
	}
	if _, err := cli.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		err = fmt.Errorf("kubernetes: create job %s/%s: %w", ns, job.Name, err)
		if apierrors.IsInvalid(err) || apierrors.IsNotFound(err) || apierrors.IsBadRequest(err) {
			return nil, loom.Permanent(err)
		}
		return nil, err
	}
	f := &follower{h: h, cli: cli, ns: ns, name: job.Name, log: loom.LogWriter(ctx),
		out: tail.Buffer{Max: h.cfg.MaxOutput}}
	res := f.run(ctx, in)
	if !res.ended {
		// The Job did not end by itself: a cancel, a timeout, or a pod
		// that can never start. Deleting it ends its pod too.
		h.deleteJob(cli, ns, job.Name)
	}
	if res.err != nil {
		return nil, fmt.Errorf("kubernetes job %s/%s: %w", ns, job.Name, res.err)
	}
	return loom.Values{"exit_code": 0, "log": res.log, "job": job.Name, "pod": res.pod}, nil
}

// deleteJob deletes a Job and, in the background, its pods, on a context
// of its own: a cancelled task must still not leave its Job behind.
func (h *Handler) deleteJob(cli Client, ns, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bg := metav1.DeletePropagationBackground
	_ = cli.BatchV1().Jobs(ns).Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg})
}

// Manifest returns the Job that Handle creates for in as attempt attempt
// of task taskID, in the namespace the input names or the handler's.
func (h *Handler) Manifest(in Input, taskID string, attempt int) (*batchv1.Job, error) {
	ns, err := h.namespace(in)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{
		LabelManagedBy: ManagedBy,
		LabelTask:      labelValue(taskID),
		LabelAttempt:   strconv.Itoa(attempt),
	}
	annotations := map[string]string{AnnotationTask: taskID}
	env := make([]corev1.EnvVar, 0, len(in.Env))
	for k, v := range in.Env {
		env = append(env, corev1.EnvVar{Name: k, Value: v})
	}
	slices.SortFunc(env, func(a, b corev1.EnvVar) int { return strings.Compare(a.Name, b.Name) })
	res := corev1.ResourceRequirements{}
	if in.CPUs > 0 {
		cpu := *resource.NewMilliQuantity(int64(math.Ceil(in.CPUs*1000)), resource.DecimalSI)
		res.Requests = corev1.ResourceList{corev1.ResourceCPU: cpu}
		res.Limits = corev1.ResourceList{corev1.ResourceCPU: cpu}
	}
	if mem, _ := in.memory(); mem != nil { // checked by validate
		if res.Requests == nil {
			res.Requests, res.Limits = corev1.ResourceList{}, corev1.ResourceList{}
		}
		res.Requests[corev1.ResourceMemory] = *mem
		res.Limits[corev1.ResourceMemory] = *mem
	}
	pull, _ := in.pullPolicy() // checked by validate
	podSec := &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	if in.RunAsUser != nil {
		podSec.RunAsUser = ptr(*in.RunAsUser)
		podSec.RunAsNonRoot = ptr(*in.RunAsUser != 0)
	}
	var deadline *int64
	if in.ActiveDeadline > 0 {
		deadline = ptr(int64(in.ActiveDeadline))
	}
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{
			Name: jobName(taskID, attempt), Namespace: ns,
			Labels: labels, Annotations: annotations,
		},
		Spec: batchv1.JobSpec{
			Parallelism:             ptr(int32(1)),
			Completions:             ptr(int32(1)),
			BackoffLimit:            ptr(int32(0)),
			ActiveDeadlineSeconds:   deadline,
			TTLSecondsAfterFinished: ptr(int32(h.cfg.TTLAfterFinished.Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: annotations},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           in.ServiceAccount,
					AutomountServiceAccountToken: ptr(in.AutomountServiceAccountToken),
					EnableServiceLinks:           ptr(false),
					SecurityContext:              podSec,
					Containers: []corev1.Container{{
						Name:                     ContainerName,
						Image:                    in.Image,
						Command:                  in.Command,
						Args:                     in.Args,
						Env:                      env,
						WorkingDir:               in.Workdir,
						Resources:                res,
						ImagePullPolicy:          pull,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						SecurityContext: &corev1.SecurityContext{
							Privileged:               ptr(false),
							AllowPrivilegeEscalation: ptr(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}, nil
}

func ptr[T any](v T) *T { return &v }

var labelValueRE = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$`)

// labelValue is id when it is a valid label value, else "h-" and a hash of
// it: a task id may be any string.
func labelValue(id string) string {
	if len(id) <= validation.LabelValueMaxLength && labelValueRE.MatchString(id) {
		return id
	}
	return "h-" + hash(id, 40)
}

// jobName names the Job of an attempt: "loom-", the task id when it is a
// short DNS label (a UUID is), otherwise a hash of it, and the attempt.
func jobName(id string, attempt int) string {
	suffix := "-" + strconv.Itoa(attempt)
	name := "loom-" + id + suffix
	if len(name) > maxJobName || len(validation.IsDNS1123Label(id)) > 0 {
		name = "loom-" + hash(id, 20) + suffix
	}
	return name
}

func hash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:n]
}

// result is how a followed Job ended.
type result struct {
	// ended is true when the Job ended or will end by itself, so that it
	// is left to its TTL rather than deleted.
	ended bool
	err   error
	log   string
	pod   string
}

// follower watches one Job and its pod to the end and streams the pod's
// log.
type follower struct {
	h        *Handler
	cli      Client
	ns, name string
	log      io.Writer

	mu      sync.Mutex
	out     tail.Buffer
	logPod  string        // the pod whose log is streamed
	logDone chan struct{} // closed when that stream has ended
	stopLog context.CancelFunc
	noted   map[string]bool // what was already said in the attempt's log
	// failures counts the watches in a row that could not start.
	failures int
}

// run waits for the end of the Job: its pod ending, the Job failing, a pod
// that cannot start, ctx ending or the active deadline passing.
func (f *follower) run(ctx context.Context, in Input) result {
	runCtx := ctx
	if in.ActiveDeadline > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, time.Duration(in.ActiveDeadline)*time.Second+f.h.cfg.DeadlineGrace)
		defer cancel()
	}
	defer f.stopLogs()
	for {
		res, again := f.watchOnce(runCtx)
		switch {
		case ctx.Err() != nil:
			return result{err: ctx.Err()}
		case runCtx.Err() != nil:
			return result{err: fmt.Errorf("%w after %gs and the cluster did not end it: %w", ErrDeadlineExceeded, in.ActiveDeadline, loom.ErrTimeout)}
		case !again:
			return res
		}
		// The API server closed a watch, as it does after a while: watch
		// again, which starts with the objects' current state.
		select {
		case <-runCtx.Done():
		case <-time.After(time.Second):
		}
	}
}

// watchOnce watches the Job and its pods until the Job's end, an error,
// or a watch closing (again is then true).
func (f *follower) watchOnce(ctx context.Context) (res result, again bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Without a resource version a watch starts with the current state of
	// every object it covers, so nothing is missed between watches.
	jobW, err := f.cli.BatchV1().Jobs(f.ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + f.name})
	if err != nil {
		return f.watchFailed("watch job", err)
	}
	defer jobW.Stop()
	podW, err := f.cli.CoreV1().Pods(f.ns).Watch(ctx, metav1.ListOptions{LabelSelector: jobNameLabel + "=" + f.name})
	if err != nil {
		return f.watchFailed("watch pods", err)
	}
	defer podW.Stop()
	f.failures = 0
	var job *batchv1.Job
	for {
		select {
		case <-ctx.Done():
			return result{}, true
		case ev, ok := <-jobW.ResultChan():
			if !ok {
				return result{}, true
			}
			j, isJob := ev.Object.(*batchv1.Job)
			if ev.Type == watch.Error || !isJob {
				return f.watchFailed("watch job", apierrors.FromObject(ev.Object))
			}
			if j.Name != f.name {
				continue
			}
			if ev.Type == watch.Deleted {
				return result{err: fmt.Errorf("%w: deleted by someone else", ErrJobFailed)}, false
			}
			job = j
			if res, done := f.jobEnded(ctx, job); done {
				return res, false
			}
		case ev, ok := <-podW.ResultChan():
			if !ok {
				return result{}, true
			}
			pod, isPod := ev.Object.(*corev1.Pod)
			if ev.Type == watch.Error || !isPod {
				return f.watchFailed("watch pods", apierrors.FromObject(ev.Object))
			}
			if pod.Labels[jobNameLabel] != f.name || ev.Type == watch.Deleted {
				continue
			}
			if res, done := f.podChanged(ctx, pod, job); done {
				return res, false
			}
		}
	}
}

// watchFailed turns a watch that could not start into a retried watch
// while the API server may come back, and into the attempt's error
// otherwise.
func (f *follower) watchFailed(what string, err error) (result, bool) {
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsBadRequest(err) || apierrors.IsInvalid(err) {
		return result{err: fmt.Errorf("%s: %w", what, err)}, false
	}
	if f.failures++; f.failures >= maxWatchFailures {
		return result{err: fmt.Errorf("%s: gave up after %d tries: %w", what, f.failures, err)}, false
	}
	f.note(what, fmt.Sprintf("loom: %s: %v (retrying)", what, err))
	return result{}, true
}

// jobEnded reports the outcome of a Job whose conditions say it failed or
// completed. A failed or completed Job's pod says best why, so it is read
// when there is one.
func (f *follower) jobEnded(ctx context.Context, job *batchv1.Job) (result, bool) {
	failed, complete := condition(job, batchv1.JobFailed), condition(job, batchv1.JobComplete)
	if failed == nil && complete == nil {
		return result{}, false
	}
	if failed != nil && failed.Reason == batchv1.JobReasonDeadlineExceeded {
		return f.deadline(job), true
	}
	pods, err := f.cli.CoreV1().Pods(f.ns).List(ctx, metav1.ListOptions{LabelSelector: jobNameLabel + "=" + f.name})
	if err == nil {
		for i := range pods.Items {
			if p := &pods.Items[i]; p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				return f.podEnded(p, job), true
			}
		}
	}
	if complete != nil {
		return f.finish(result{ended: true}, ""), true
	}
	return f.finish(result{ended: true, err: fmt.Errorf("%w: %s: %s", ErrJobFailed, failed.Reason, failed.Message)}, ""), true
}

// podChanged follows one pod: its log once its container has started, and
// its end.
func (f *follower) podChanged(ctx context.Context, pod *corev1.Pod, job *batchv1.Job) (result, bool) {
	cs := containerStatus(pod)
	if cs != nil && (cs.State.Running != nil || cs.State.Terminated != nil) {
		f.streamLog(pod.Name)
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded, corev1.PodFailed:
		// The Job controller may already have marked a deadline the pod's
		// own status does not show: read the Job as it is now.
		if j, err := f.cli.BatchV1().Jobs(f.ns).Get(ctx, f.name, metav1.GetOptions{}); err == nil {
			job = j
		}
		return f.podEnded(pod, job), true
	}
	if cs != nil && cs.State.Waiting != nil {
		w := cs.State.Waiting
		switch w.Reason {
		case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName":
			err := fmt.Errorf("pod %s: %w: %s: %s", pod.Name, ErrImagePull, w.Reason, w.Message)
			if w.Reason == "ErrImageNeverPull" || w.Reason == "InvalidImageName" {
				err = loom.Permanent(err)
			}
			return result{err: err}, true
		case "CreateContainerConfigError", "CreateContainerError":
			return result{err: fmt.Errorf("pod %s: %w: %s: %s", pod.Name, ErrContainerConfig, w.Reason, w.Message)}, true
		}
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			f.note("unschedulable", fmt.Sprintf("loom: pod %s not scheduled yet: %s: %s", pod.Name, c.Reason, c.Message))
		}
	}
	return result{}, false
}

// podEnded maps an ended pod (and its Job, when known) to the outcome.
func (f *follower) podEnded(pod *corev1.Pod, job *batchv1.Job) result {
	if job != nil {
		for _, t := range []batchv1.JobConditionType{batchv1.JobFailed, batchv1.JobFailureTarget} {
			if c := condition(job, t); c != nil && c.Reason == batchv1.JobReasonDeadlineExceeded {
				return f.deadline(job)
			}
		}
	}
	f.streamLog(pod.Name)
	if pod.Status.Phase == corev1.PodSucceeded {
		return f.finish(result{ended: true, pod: pod.Name}, pod.Name)
	}
	cs := containerStatus(pod)
	if cs == nil || cs.State.Terminated == nil {
		// Evicted, or deleted before its container ran.
		return f.finish(result{ended: true, pod: pod.Name, err: fmt.Errorf("%w: pod %s: %s: %s", ErrJobFailed, pod.Name, pod.Status.Reason, pod.Status.Message)}, pod.Name)
	}
	t := cs.State.Terminated
	res := f.finish(result{ended: true, pod: pod.Name}, pod.Name)
	last := tail.LastLines(res.log, logLines)
	if last == "" {
		last = tail.LastLines(t.Message, logLines)
	}
	code := int(t.ExitCode)
	if code == 0 {
		// A pod fails with code 0 only when the kubelet ended it.
		code = -1
	}
	res.err = &ExitError{Code: code, Reason: t.Reason, Log: last}
	return res
}

// deadline is the outcome of a Job the cluster ended at its deadline.
func (f *follower) deadline(job *batchv1.Job) result {
	secs := int64(0)
	if job.Spec.ActiveDeadlineSeconds != nil {
		secs = *job.Spec.ActiveDeadlineSeconds
	}
	res := f.finish(result{ended: true}, "")
	res.err = fmt.Errorf("%w after %ds: %w", ErrDeadlineExceeded, secs, loom.ErrTimeout)
	return res
}

// finish waits a while for the log of pod (if any streams) and returns res
// with the log's tail as output.
func (f *follower) finish(res result, pod string) result {
	f.mu.Lock()
	done := f.logDone
	streaming := f.logPod != "" && (pod == "" || f.logPod == pod)
	f.mu.Unlock()
	if streaming {
		select {
		case <-done:
		case <-time.After(f.h.cfg.LogDrain):
			f.note("drain", "loom: the rest of the pod's log did not arrive in time")
		}
	}
	f.stopLogs()
	f.mu.Lock()
	res.log = f.out.String()
	f.mu.Unlock()
	return res
}

// streamLog starts following the log of pod, once per follower: backoffLimit
// 0 makes one pod per Job.
func (f *follower) streamLog(pod string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logPod != "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.logPod, f.logDone, f.stopLog = pod, make(chan struct{}), cancel
	go func() {
		defer close(f.logDone)
		rc, err := f.cli.CoreV1().Pods(f.ns).GetLogs(pod, &corev1.PodLogOptions{Container: ContainerName, Follow: true}).Stream(ctx)
		if err != nil {
			if ctx.Err() == nil {
				f.note("log", fmt.Sprintf("loom: pod %s: log: %v", pod, err))
			}
			return
		}
		defer rc.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := rc.Read(buf)
			if n > 0 {
				f.mu.Lock()
				_, _ = f.log.Write(buf[:n]) // the log is best effort
				f.out.Write(buf[:n])
				f.mu.Unlock()
			}
			if err != nil {
				return
			}
		}
	}()
}

// stopLogs ends the log stream, if one runs, and waits for it.
func (f *follower) stopLogs() {
	f.mu.Lock()
	stop, done := f.stopLog, f.logDone
	f.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// note writes a line of loom's own into the attempt's log once per key.
func (f *follower) note(key, line string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.noted == nil {
		f.noted = map[string]bool{}
	}
	if f.noted[key] {
		return
	}
	f.noted[key] = true
	_, _ = io.WriteString(f.log, line+"\n")
}

func condition(job *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == t && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}

func containerStatus(pod *corev1.Pod) *corev1.ContainerStatus {
	for i := range pod.Status.ContainerStatuses {
		if cs := &pod.Status.ContainerStatuses[i]; cs.Name == ContainerName {
			return cs
		}
	}
	return nil
}

// Reap deletes the unfinished Jobs labelled by this runtime in namespaces
// whose attempt running reports as no longer running, and returns how many
// it deleted. A loom server calls it when it starts, so that a process
// killed mid-run leaves no Job running once the server starts again;
// finished Jobs are left to their TTL. An attempt label that is not a
// number is passed as 0.
func Reap(ctx context.Context, cli Client, namespaces []string, running func(ctx context.Context, taskID string, attempt int) (bool, error)) (int, error) {
	n := 0
	var errs []error
	bg := metav1.DeletePropagationBackground
	for _, ns := range namespaces {
		list, err := cli.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy})
		if err != nil {
			errs = append(errs, fmt.Errorf("list loom jobs in %s: %w", ns, err))
			continue
		}
		for i := range list.Items {
			job := &list.Items[i]
			if condition(job, batchv1.JobComplete) != nil || condition(job, batchv1.JobFailed) != nil {
				continue
			}
			task := cmpOr(job.Annotations[AnnotationTask], job.Labels[LabelTask])
			attempt, _ := strconv.Atoi(job.Labels[LabelAttempt])
			alive, err := running(ctx, task, attempt)
			if err != nil {
				errs = append(errs, fmt.Errorf("task %s: %w", task, err))
				continue
			}
			if alive {
				continue
			}
			err = cli.BatchV1().Jobs(ns).Delete(ctx, job.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete job %s/%s of task %s: %w", ns, job.Name, task, err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}
