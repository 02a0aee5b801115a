//go:build linux

package e2e

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/plugins/inputs/execd"
	"github.com/influxdata/telegraf/plugins/outputs/influxdb"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/tcpconn/telegraf-tcpconn/plugins/inputs/tcpconn"
)

// k8sObject holds the fields of examples/kubernetes/daemonset.yaml that the
// deployment depends on.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name      string `yaml:"name"`
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Data map[string]string `yaml:"data"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec k8sPodSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type k8sPodSpec struct {
	HostPID     *bool          `yaml:"hostPID"`
	HostNetwork bool           `yaml:"hostNetwork"`
	Containers  []k8sContainer `yaml:"containers"`
	Volumes     []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		HostPath *struct {
			Path string `yaml:"path"`
		} `yaml:"hostPath"`
	} `yaml:"volumes"`
}

type k8sContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	SecurityContext struct {
		RunAsUser                *int  `yaml:"runAsUser"`
		Privileged               *bool `yaml:"privileged"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
}

func (c k8sContainer) env(name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// TestKubernetesDaemonSet validates examples/kubernetes/daemonset.yaml and
// its BPF variant, daemonset-bpf.yaml,
// statically (no cluster is available here): the fields that give tcpconn
// the node's processes with two capabilities and no privileged mode, and
// the two embedded configurations, loaded by Telegraf's own loader so that
// a typo in an option fails.
func TestKubernetesDaemonSet(t *testing.T) {
	for _, tc := range []struct {
		file, ownerWalk string
		caps            []string
	}{
		{"daemonset.yaml", "auto", []string{"SYS_PTRACE", "DAC_READ_SEARCH"}},
		{"daemonset-bpf.yaml", "bpf", []string{"BPF", "PERFMON"}},
	} {
		t.Run(tc.file, func(t *testing.T) { checkDaemonSet(t, tc.file, tc.ownerWalk, tc.caps) })
	}
}

func checkDaemonSet(t *testing.T, file, ownerWalk string, caps []string) {
	data, err := os.ReadFile("../examples/kubernetes/" + file)
	require.NoError(t, err)
	objects := make(map[string]k8sObject)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o k8sObject
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.NotContains(t, objects, o.Kind, "one %s", o.Kind)
		objects[o.Kind] = o
	}
	ds, ok := objects["DaemonSet"]
	require.True(t, ok, "no DaemonSet")
	cm, ok := objects["ConfigMap"]
	require.True(t, ok, "no ConfigMap")
	require.Equal(t, ds.Metadata.Namespace, cm.Metadata.Namespace)
	if ns, ok := objects["Namespace"]; ok {
		require.Equal(t, ns.Metadata.Name, ds.Metadata.Namespace)
	}
	require.NotEmpty(t, ds.Spec.Selector.MatchLabels)
	for k, v := range ds.Spec.Selector.MatchLabels {
		require.Equal(t, v, ds.Spec.Template.Metadata.Labels[k], "the selector must match the pod's labels")
	}

	pod := ds.Spec.Template.Spec
	require.NotNil(t, pod.HostPID)
	require.True(t, *pod.HostPID, "hostPID: the node's processes")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	require.NotEmpty(t, c.Image)
	require.Equal(t, "/usr/bin/telegraf", c.Command[0], "not the image's entrypoint, which drops the capabilities")

	// The node's /proc, read-only at HOST_PROC.
	hostProc, ok := c.env("HOST_PROC")
	require.True(t, ok, "env HOST_PROC")
	require.Equal(t, "/host/proc", hostProc)
	mounts := make(map[string]string) // volume name -> mount path
	for _, m := range c.VolumeMounts {
		require.True(t, m.ReadOnly, "volume %s must be mounted read-only", m.Name)
		mounts[m.Name] = m.MountPath
	}
	var procVolume, configVolume string
	for _, v := range pod.Volumes {
		switch {
		case v.HostPath != nil && v.HostPath.Path == "/proc":
			procVolume = v.Name
		case v.ConfigMap != nil && v.ConfigMap.Name == cm.Metadata.Name:
			configVolume = v.Name
		}
	}
	require.NotEmpty(t, procVolume, "a hostPath volume of /proc")
	require.Equal(t, hostProc, mounts[procVolume])
	require.NotEmpty(t, configVolume, "a volume of the ConfigMap")
	configDir := mounts[configVolume]

	// Two capabilities, nothing privileged.
	sc := c.SecurityContext
	require.ElementsMatch(t, caps, sc.Capabilities.Add)
	require.Equal(t, []string{"ALL"}, sc.Capabilities.Drop)
	require.NotNil(t, sc.Privileged)
	require.False(t, *sc.Privileged)
	require.NotNil(t, sc.AllowPrivilegeEscalation)
	require.False(t, *sc.AllowPrivilegeEscalation)
	require.NotNil(t, sc.RunAsUser, "say which user: added capabilities work only for uid 0")
	require.Equal(t, 0, *sc.RunAsUser)
	require.NotEmpty(t, c.Resources.Requests)
	require.NotEmpty(t, c.Resources.Limits["memory"])

	// telegraf.conf: execd running the shim on the mounted tcpconn.conf,
	// and InfluxDB at the URL of the environment.
	influxURL, ok := c.env("INFLUXDB_URL")
	require.True(t, ok, "env INFLUXDB_URL")
	t.Setenv("INFLUXDB_URL", influxURL)
	t.Setenv("NODE_NAME", "node-1")
	require.Equal(t, []string{"--config", path.Join(configDir, "telegraf.conf")}, c.Command[1:])
	telegrafConf, ok := cm.Data["telegraf.conf"]
	require.True(t, ok, "ConfigMap key telegraf.conf")
	tc := config.NewConfig()
	require.NoError(t, tc.LoadConfigData([]byte(telegrafConf), config.EmptySourcePath))
	require.Equal(t, "node-1", tc.Agent.Hostname)
	require.Len(t, tc.Inputs, 1)
	e, ok := tc.Inputs[0].Input.(*execd.Execd)
	require.True(t, ok, "inputs.execd, not %T", tc.Inputs[0].Input)
	require.Equal(t, []string{"/usr/local/bin/tcpconn", "-config", path.Join(configDir, "tcpconn.conf"), "-poll_interval_disabled"}, e.Command)
	require.Equal(t, "STDIN", e.Signal)
	require.Len(t, tc.Outputs, 1)
	out, ok := tc.Outputs[0].Output.(*influxdb.InfluxDB)
	require.True(t, ok, "outputs.influxdb, not %T", tc.Outputs[0].Output)
	require.Equal(t, []string{influxURL}, out.URLs)

	// tcpconn.conf: every network namespace, and proc_root from HOST_PROC.
	pluginConf, ok := cm.Data["tcpconn.conf"]
	require.True(t, ok, "ConfigMap key tcpconn.conf")
	pc := config.NewConfig()
	require.NoError(t, pc.LoadConfigData([]byte(pluginConf), config.EmptySourcePath))
	require.Len(t, pc.Inputs, 1)
	plugin, ok := pc.Inputs[0].Input.(*tcpconn.TCPConn)
	require.True(t, ok, "inputs.tcpconn, not %T", pc.Inputs[0].Input)
	require.Equal(t, "all", plugin.Namespaces)
	require.Equal(t, ownerWalk, plugin.OwnerWalk)
	require.Empty(t, plugin.ProcRoot, "proc_root comes from HOST_PROC")
	// Init validates the values (states, metrics...); /host/proc does not
	// exist here.
	t.Setenv("HOST_PROC", "/proc")
	plugin.Log = testutil.Logger{}
	require.NoError(t, plugin.Init())

	// The Dockerfile puts the shim where execd runs it.
	dockerfile, err := os.ReadFile("../examples/kubernetes/Dockerfile")
	require.NoError(t, err)
	require.Contains(t, string(dockerfile), " /usr/local/bin/tcpconn\n")
}
