package deploy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/resmap"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// render runs `kustomize build dir` with kustomize's own Go API on the
// files on disk.
func render(t *testing.T, dir string) resmap.ResMap {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return m
}

// object is one rendered resource as plain maps.
type object map[string]any

func objects(t *testing.T, m resmap.ResMap) []object {
	t.Helper()
	var out []object
	for _, r := range m.Resources() {
		v, err := r.Map()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// get walks a path of map keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func (o object) kind() string { return str(o["kind"]) }
func (o object) name() string { return str(get(map[string]any(o), "metadata", "name")) }

func find(objs []object, kind, name string) object {
	for _, o := range objs {
		if o.kind() == kind && (name == "" || o.name() == name) {
			return o
		}
	}
	return nil
}

// containerEnv resolves a container's environment as the kubelet would:
// envFrom ConfigMaps and Secrets first, then env entries; Secret values
// are base64 in data (only their presence matters here). A Secret that is
// not rendered is an error only when secrets is true: the base leaves it
// to an overlay.
func containerEnv(r *report, objs []object, c any, secrets bool) map[string]string {
	env := map[string]string{}
	froms, _ := get(c, "envFrom").([]any)
	for _, f := range froms {
		if n := str(get(f, "configMapRef", "name")); n != "" {
			cm := find(objs, "ConfigMap", n)
			if cm == nil {
				r.add("envFrom names ConfigMap %q, which is not rendered", n)
				continue
			}
			data, _ := cm["data"].(map[string]any)
			for k, v := range data {
				env[k] = str(v)
			}
		}
		if n := str(get(f, "secretRef", "name")); n != "" {
			s := find(objs, "Secret", n)
			if s == nil {
				if secrets {
					r.add("envFrom names Secret %q, which is not rendered", n)
				}
				continue
			}
			data, _ := s["data"].(map[string]any)
			for k := range data {
				env[k] = "(secret)"
			}
		}
	}
	list, _ := get(c, "env").([]any)
	for _, e := range list {
		env[str(get(e, "name"))] = str(get(e, "value"))
	}
	return env
}

func seconds(r *report, what, s string, def int) int {
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		r.add("%s: %q is not a number of seconds", what, s)
	}
	return n
}

// report collects what is wrong with a rendering, so a test can also
// prove that a broken one is caught.
type report []string

func (r *report) add(format string, args ...any) { *r = append(*r, fmt.Sprintf(format, args...)) }

// check fails t with every problem found.
func (r report) check(t *testing.T) {
	t.Helper()
	for _, p := range r {
		t.Error(p)
	}
}

// TestKustomizeBase renders the base: the kinds an installation needs,
// probes on the health routes, non-root pods, and settings from the
// ConfigMap and the Secret.
func TestKustomizeBase(t *testing.T) {
	t.Parallel()
	objs := objects(t, render(t, "kubernetes/base"))
	installationProblems(objs, false).check(t)
}

// TestKustomizeExampleOverlay renders the example overlay: everything in
// the base, in its namespace, with the Secret generated, pinned images,
// and KEDA scaling the workers on asynq's pending lists.
func TestKustomizeExampleOverlay(t *testing.T) {
	t.Parallel()
	objs := objects(t, render(t, "kubernetes/overlays/example"))
	installationProblems(objs, true).check(t)
	for _, o := range objs {
		if ns := str(get(map[string]any(o), "metadata", "namespace")); o.kind() != "Namespace" && ns != "recap" {
			t.Errorf("%s/%s is in namespace %q", o.kind(), o.name(), ns)
		}
	}
	so := find(objs, "ScaledObject", "recap-worker")
	if so == nil {
		t.Fatal("no KEDA ScaledObject")
	}
	if get(map[string]any(so), "spec", "scaleTargetRef", "name") != "recap-worker" {
		t.Errorf("the ScaledObject scales %v", get(map[string]any(so), "spec", "scaleTargetRef"))
	}
	triggers, _ := get(map[string]any(so), "spec", "triggers").([]any)
	var lists []string
	for _, tr := range triggers {
		if get(tr, "type") == "redis" {
			lists = append(lists, str(get(tr, "metadata", "listName")))
			if ref := str(get(tr, "authenticationRef", "name")); find(objs, "TriggerAuthentication", ref) == nil {
				t.Errorf("trigger authentication %q is not rendered", ref)
			}
		}
	}
	slices.Sort(lists)
	if !slices.Equal(lists, []string{"asynq:{batch}:pending", "asynq:{interactive}:pending"}) {
		t.Errorf("the ScaledObject watches %v, not asynq's pending lists of the interactive and batch queues", lists)
	}
	// KEDA owns the replica count: a fixed one would fight it.
	if r := get(map[string]any(find(objs, "Deployment", "recap-worker")), "spec", "replicas"); r != nil {
		t.Errorf("the worker Deployment still sets replicas: %v", r)
	}
	for _, name := range []string{"recap-api", "recap-worker"} {
		img := str(get(map[string]any(find(objs, "Deployment", name)), "spec", "template", "spec", "containers", 0, "image"))
		if !strings.HasSuffix(img, ":1.0.0") {
			t.Errorf("%s runs image %q, not the pinned tag", name, img)
		}
	}
}

// installationProblems checks what every rendering must hold.
func installationProblems(objs []object, withSecret bool) report {
	var r report
	for _, want := range [][2]string{
		{"Deployment", "recap-api"}, {"Service", "recap-api"}, {"HorizontalPodAutoscaler", "recap-api"},
		{"PodDisruptionBudget", "recap-api"}, {"Deployment", "recap-worker"}, {"PodDisruptionBudget", "recap-worker"},
	} {
		if find(objs, want[0], want[1]) == nil {
			r.add("no %s %s rendered", want[0], want[1])
		}
	}
	if hpa := find(objs, "HorizontalPodAutoscaler", "recap-api"); hpa != nil {
		if ref := get(map[string]any(hpa), "spec", "scaleTargetRef"); str(get(ref, "kind")) != "Deployment" || str(get(ref, "name")) != "recap-api" {
			r.add("the HPA scales %v", ref)
		}
	}
	for _, name := range []string{"recap-api", "recap-worker"} {
		d := find(objs, "Deployment", name)
		if d == nil {
			continue
		}
		pod := get(map[string]any(d), "spec", "template", "spec")
		podLabels, _ := get(map[string]any(d), "spec", "template", "metadata", "labels").(map[string]any)
		for _, kind := range []string{"PodDisruptionBudget", "Service"} {
			for _, o := range objs {
				if o.kind() != kind {
					continue
				}
				sel, _ := get(map[string]any(o), "spec", "selector", "matchLabels").(map[string]any)
				if kind == "Service" {
					sel, _ = get(map[string]any(o), "spec", "selector").(map[string]any)
				}
				if str(sel["app.kubernetes.io/name"]) == name && !matches(sel, podLabels) {
					r.add("%s %s selects %v, which %s's pods (%v) do not carry", kind, o.name(), sel, name, podLabels)
				}
			}
		}
		if get(pod, "securityContext", "runAsNonRoot") != true {
			r.add("%s: pods may run as root", name)
		}
		c := get(pod, "containers", 0)
		if get(c, "securityContext", "allowPrivilegeEscalation") != false {
			r.add("%s: privilege escalation allowed", name)
		}
		for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			if got := str(get(c, probe, "httpGet", "path")); got != path {
				r.add("%s: %s on %q, want %s", name, probe, got, path)
			}
		}
		env := containerEnv(&r, objs, c, withSecret)
		if withSecret {
			// BLOB_URL too: a file:// store on one pod is not seen by the others.
			for _, k := range []string{"DATABASE_URL", "REDIS_URL", "BLOB_URL"} {
				if env[k] != "(secret)" {
					r.add("%s: %s does not come from the Secret", name, k)
				}
			}
		}
		// The grace period must outlast the drain the process does on
		// SIGTERM, or running stages are killed mid-way.
		shutdown := seconds(&r, name+" SHUTDOWN_TIMEOUT_SECONDS", env["SHUTDOWN_TIMEOUT_SECONDS"], 30)
		grace := seconds(&r, name+" terminationGracePeriodSeconds", str(get(pod, "terminationGracePeriodSeconds")), 30)
		if grace <= shutdown {
			r.add("%s: terminationGracePeriodSeconds %d is not longer than SHUTDOWN_TIMEOUT_SECONDS %d", name, grace, shutdown)
		}
		// The probes reach the port the process listens on.
		addr := env["LISTEN_ADDR"]
		if name == "recap-worker" {
			addr = env["METRICS_ADDR"]
		}
		port := str(get(c, "livenessProbe", "httpGet", "port"))
		ports, _ := get(c, "ports").([]any)
		found := false
		for _, p := range ports {
			if str(get(p, "name")) == port && strings.HasSuffix(addr, ":"+str(get(p, "containerPort"))) {
				found = true
			}
		}
		if !found {
			r.add("%s: probes use port %q, but the process listens on %q", name, port, addr)
		}
	}
	if d := find(objs, "Deployment", "recap-worker"); d != nil {
		c := get(map[string]any(d), "spec", "template", "spec", "containers", 0)
		env := containerEnv(&r, objs, c, withSecret)
		mounts, _ := get(c, "volumeMounts").([]any)
		writable := false
		for _, m := range mounts {
			if str(get(m, "mountPath")) == env["TEMP_DIR"] {
				writable = true
			}
		}
		if !writable {
			r.add("the worker's TEMP_DIR %q is not a mounted volume (its root filesystem is read-only)", env["TEMP_DIR"])
		}
	}
	// Both stage uploads in DATA_DIR: it must be writable.
	for _, name := range []string{"recap-api", "recap-worker"} {
		d := find(objs, "Deployment", name)
		if d == nil {
			continue
		}
		c := get(map[string]any(d), "spec", "template", "spec", "containers", 0)
		env := containerEnv(&r, objs, c, withSecret)
		mounts, _ := get(c, "volumeMounts").([]any)
		found := false
		for _, m := range mounts {
			found = found || (env["DATA_DIR"] != "" && str(get(m, "mountPath")) == env["DATA_DIR"])
		}
		if !found {
			r.add("%s: DATA_DIR %q is not a mounted volume", name, env["DATA_DIR"])
		}
	}
	return r
}

func matches(sel, labels map[string]any) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

// TestGracePeriodRuleFails: the grace-period check catches a worker that
// would be killed while draining.
func TestGracePeriodRuleFails(t *testing.T) {
	t.Parallel()
	objs := objects(t, render(t, "kubernetes/base"))
	d := find(objs, "Deployment", "recap-worker")
	get(map[string]any(d), "spec", "template", "spec").(map[string]any)["terminationGracePeriodSeconds"] = 30
	r := installationProblems(objs, false)
	if len(r) != 1 || !strings.Contains(r[0], "recap-worker: terminationGracePeriodSeconds 30 is not longer than SHUTDOWN_TIMEOUT_SECONDS 30") {
		t.Fatalf("a 30 s grace period with a 30 s drain was not caught: %q", r)
	}
}
