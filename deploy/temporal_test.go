package deploy

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/server/common/dynamicconfig"

	"github.com/rapporthq/rapport/internal/lanes"
)

// temporalDynamicConfig is the Temporal dynamic configuration that gives
// Rapport's lanes effect, and where docker-compose.yml mounts it.
const (
	temporalDynamicConfig = "temporal/dynamicconfig.yaml"
	temporalConfigMount   = "/etc/temporal/config/dynamicconfig/rapport.yaml"
)

// TestTemporalDynamicConfig: the file loads with the dynamic
// configuration loader of the Temporal server Rapport is built with, every
// key is one that server knows with a value it accepts, and it turns on
// priority, fairness and the levels internal/lanes uses.
func TestTemporalDynamicConfig(t *testing.T) {
	b, err := os.ReadFile(temporalDynamicConfig)
	if err != nil {
		t.Fatal(err)
	}
	l := dynamicconfig.LoadYamlFile(b)
	if err := l.Err(); err != nil {
		t.Fatalf("%s: %v", temporalDynamicConfig, err)
	}
	for _, w := range l.Warnings {
		t.Errorf("%s: %v", temporalDynamicConfig, w) // an unknown key, or a value it refuses
	}
	for key, want := range map[dynamicconfig.Key]any{
		dynamicconfig.MatchingUseNewMatcher.Key():  true,
		dynamicconfig.MatchingEnableFairness.Key(): true,
		dynamicconfig.MatchingPriorityLevels.Key(): lanes.Levels,
	} {
		cvs := l.Map[key]
		if len(cvs) != 1 || len(cvs[0].Constraints.Namespace) > 0 || cvs[0].Value != want {
			t.Errorf("%s: %s = %+v; want one unconstrained value %v", temporalDynamicConfig, key, cvs, want)
		}
	}
}

// TestComposeTemporalHasTheLanes: compose's Temporal server reads the file.
func TestComposeTemporalHasTheLanes(t *testing.T) {
	p := loadCompose(t, nil)
	s := service(t, p, "temporal")
	if got := envOf(s)["DYNAMIC_CONFIG_FILE_PATH"]; filepath.Join("/etc/temporal", got) != temporalConfigMount {
		t.Errorf("temporal: DYNAMIC_CONFIG_FILE_PATH = %q; want the mounted %s (relative to /etc/temporal)", got, temporalConfigMount)
	}
	file, err := filepath.Abs(temporalDynamicConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range s.Volumes {
		if v.Target == temporalConfigMount {
			if v.Source != file || !v.ReadOnly {
				t.Errorf("temporal: %s mounts %s (read-only %v); want %s, read-only", v.Target, v.Source, v.ReadOnly, file)
			}
			return
		}
	}
	t.Errorf("temporal: nothing mounted at %s", temporalConfigMount)
}
