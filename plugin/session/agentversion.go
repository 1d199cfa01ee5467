package session

import (
	"fmt"
	"regexp"

	"github.com/kubectl-pixie/kubectl-pixie/internal/version"
	"github.com/kubectl-pixie/kubectl-pixie/plugin/render"
)

// AgentVersionError is a probe agent refused for its version: a plugin
// release only reads agents of the same release, whose records it knows.
type AgentVersionError struct {
	Node, Agent, Plugin string
}

func (e *AgentVersionError) Error() string {
	agent := "an agent that does not say its version (older than v0.9)"
	if e.Agent != "" {
		agent = "probe agent " + e.Agent
	}
	return fmt.Sprintf("node %s runs %s, but this plugin is %s: their records may not mean the same, so the node is not read\n"+
		"  use this version's probe image: drop --image and %s (the default is %s),\n"+
		"  or copy it into your registry with `kubectl pixie image push REGISTRY/REPO` and pass the --image it prints;\n"+
		"  or run the plugin of the agent's version", e.Node, agent, e.Plugin, EnvImage, version.ProbeImage)
}

// releaseVersion is a tagged release, v-prefixed semver with at most an
// alpha, beta or rc suffix; anything else (v0.0.0-dev, git describe's
// v0.9.0-3-gabcdef-dirty, a bare commit) is a development build.
var releaseVersion = regexp.MustCompile(`^v\d+\.\d+\.\d+(-(alpha|beta|rc)(\.?\d+)*)?$`)

// CheckAgentVersion decides on an agent's version (hello says whether it
// said one): the same version passes; a release plugin refuses any other;
// a development build on either side is let through with a warning, since
// a developer's plugin and image are built from different trees by design.
func CheckAgentVersion(node, plugin, agent string, hello bool) (warning string, err error) {
	if hello && agent == plugin {
		return "", nil
	}
	if !hello {
		agent = ""
	}
	if releaseVersion.MatchString(plugin) && (agent == "" || releaseVersion.MatchString(agent)) {
		return "", &AgentVersionError{Node: node, Agent: render.Sanitize(agent), Plugin: plugin}
	}
	if agent == "" {
		return fmt.Sprintf("warning: the probe agent on node %s does not say its version (this plugin is %s, a development build): read anyway\n", node, plugin), nil
	}
	return fmt.Sprintf("warning: the probe agent on node %s is %s, this plugin is %s: read anyway, as one of them is a development build\n",
		node, render.Sanitize(agent), plugin), nil
}
