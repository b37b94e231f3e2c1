package k8srt

import (
	"errors"
	"fmt"
	"os"
	"strings"

	batchclient "k8s.io/client-go/kubernetes/typed/batch/v1"
	coreclient "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// serviceAccountNamespace is where a pod finds its own namespace.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// NewClient returns a clientset for the cluster that the kubeconfig file
// describes (its current context) or, when kubeconfig is "", for the
// cluster loom runs in (the pod's service account). It also returns the
// namespace that context or that pod is in, "" when none is said. Nothing
// is sent to the API server: a wrong address shows at the first request.
func NewClient(kubeconfig string) (Client, string, error) {
	var (
		cfg *rest.Config
		ns  string
		err error
	)
	if kubeconfig != "" {
		cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{})
		if cfg, err = cc.ClientConfig(); err != nil {
			return nil, "", fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
		}
		// The context's namespace, else "default".
		if n, _, err := cc.Namespace(); err == nil {
			ns = n
		}
	} else {
		cfg, err = rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, "", errors.New("not running in a Kubernetes cluster (KUBERNETES_SERVICE_HOST is unset): name a kubeconfig file")
		}
		if err != nil {
			return nil, "", fmt.Errorf("in-cluster config: %w", err)
		}
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	cfg.UserAgent = "loom"
	batch, err := batchclient.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes batch client: %w", err)
	}
	core, err := coreclient.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("kubernetes core client: %w", err)
	}
	return clients{batch: batch, core: core}, ns, nil
}

// clients is a Client of two typed clients.
type clients struct {
	batch batchclient.BatchV1Interface
	core  coreclient.CoreV1Interface
}

func (c clients) BatchV1() batchclient.BatchV1Interface { return c.batch }
func (c clients) CoreV1() coreclient.CoreV1Interface    { return c.core }
