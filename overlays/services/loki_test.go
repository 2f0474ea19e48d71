package services

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// lokiFile mirrors the part of Loki's configuration kiln writes. Decoding
// with KnownFields rejects any key Loki's schema would not have at that
// place (the Loki module itself is AGPL, so the schema is restated here
// from its documentation).
type lokiFile struct {
	AuthEnabled *bool `yaml:"auth_enabled"`
	Server      struct {
		HTTPListenPort int    `yaml:"http_listen_port"`
		GRPCListenPort int    `yaml:"grpc_listen_port"`
		LogLevel       string `yaml:"log_level"`
	} `yaml:"server"`
	Common struct {
		InstanceAddr string `yaml:"instance_addr"`
		PathPrefix   string `yaml:"path_prefix"`
		Storage      struct {
			Filesystem struct {
				ChunksDirectory string `yaml:"chunks_directory"`
				RulesDirectory  string `yaml:"rules_directory"`
			} `yaml:"filesystem"`
		} `yaml:"storage"`
		ReplicationFactor int `yaml:"replication_factor"`
		Ring              struct {
			KVStore struct {
				Store string `yaml:"store"`
			} `yaml:"kvstore"`
		} `yaml:"ring"`
	} `yaml:"common"`
	SchemaConfig struct {
		Configs []struct {
			From        string `yaml:"from"`
			Store       string `yaml:"store"`
			ObjectStore string `yaml:"object_store"`
			Schema      string `yaml:"schema"`
			Index       struct {
				Prefix string `yaml:"prefix"`
				Period string `yaml:"period"`
			} `yaml:"index"`
		} `yaml:"configs"`
	} `yaml:"schema_config"`
	LimitsConfig struct {
		RetentionPeriod        string `yaml:"retention_period"`
		RejectOldSamples       bool   `yaml:"reject_old_samples"`
		RejectOldSamplesMaxAge string `yaml:"reject_old_samples_max_age"`
	} `yaml:"limits_config"`
	Compactor struct {
		WorkingDirectory     string `yaml:"working_directory"`
		CompactionInterval   string `yaml:"compaction_interval"`
		RetentionEnabled     bool   `yaml:"retention_enabled"`
		RetentionDeleteDelay string `yaml:"retention_delete_delay"`
		DeleteRequestStore   string `yaml:"delete_request_store"`
	} `yaml:"compactor"`
	Analytics struct {
		ReportingEnabled *bool `yaml:"reporting_enabled"`
	} `yaml:"analytics"`
}

func decodeStrict(t *testing.T, data []byte, v any) {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("strict decode: %v", err)
	}
}

func TestLoki(t *testing.T) {
	files, err := filesOf(Loki(clipperLoki()))
	if err != nil {
		t.Fatal(err)
	}
	goldenFiles(t, "loki", files)
	var c lokiFile
	decodeStrict(t, files[0].Contents, &c)

	if c.AuthEnabled == nil || *c.AuthEnabled {
		t.Error("auth_enabled must be explicitly false")
	}
	if c.Server.HTTPListenPort != 3100 {
		t.Errorf("http_listen_port %d", c.Server.HTTPListenPort)
	}
	if c.Common.PathPrefix != "/loki" || c.Common.Storage.Filesystem.ChunksDirectory != "/loki/chunks" {
		t.Errorf("storage not under /loki: %+v", c.Common)
	}
	if c.Common.ReplicationFactor != 1 || c.Common.Ring.KVStore.Store != "inmemory" {
		t.Errorf("single binary needs replication 1 and an in-memory ring: %+v", c.Common)
	}
	if len(c.SchemaConfig.Configs) != 1 {
		t.Fatalf("want one schema period, got %d", len(c.SchemaConfig.Configs))
	}
	s := c.SchemaConfig.Configs[0]
	if s.Store != "tsdb" || s.Schema != "v13" || s.ObjectStore != "filesystem" || s.Index.Period != "24h" {
		t.Errorf("schema %+v, want tsdb v13 on filesystem with a 24h index", s)
	}
	if _, err := time.Parse(time.DateOnly, s.From); err != nil {
		t.Errorf("schema from %q: %v", s.From, err)
	}
	// Retention only happens when the compactor enforces it, and Loki 3
	// refuses retention without a delete request store.
	if c.LimitsConfig.RetentionPeriod != "744h" || !c.Compactor.RetentionEnabled || c.Compactor.DeleteRequestStore == "" {
		t.Errorf("retention %q enabled=%v store=%q", c.LimitsConfig.RetentionPeriod, c.Compactor.RetentionEnabled, c.Compactor.DeleteRequestStore)
	}
	if c.Analytics.ReportingEnabled == nil || *c.Analytics.ReportingEnabled {
		t.Error("usage reporting must be off")
	}
}

// TestLokiStrictDecodeCatchesTypos proves the judge is strict: a key Loki
// does not know at that level fails decoding.
func TestLokiStrictDecodeCatchesTypos(t *testing.T) {
	files, err := filesOf(Loki(clipperLoki()))
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(files[0].Contents, []byte("retention_period:"), []byte("retention_periode:"), 1)
	var c lokiFile
	dec := yaml.NewDecoder(bytes.NewReader(bad))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err == nil {
		t.Fatal("a misspelt key decoded without error")
	}
}

func TestLokiValidate(t *testing.T) {
	for name, mutate := range map[string]func(*LokiConfig){
		"retention hours": func(c *LokiConfig) { c.Retention = 36 * time.Hour },
		"schema date":     func(c *LokiConfig) { c.SchemaFrom = "2024/04/01" },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := clipperLoki()
			mutate(&cfg)
			if _, err := filesOf(Loki(cfg)); !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("got %v, want ErrInvalidValue", err)
			}
		})
	}
}
