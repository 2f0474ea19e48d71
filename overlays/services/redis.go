package services

import (
	"fmt"
	"regexp"

	"github.com/kiln-dev/kiln/overlays"
)

// RedisConfig is the Redis server configuration.
type RedisConfig struct {
	// Image is the container image.
	Image string
	// Bind and Port are where Redis listens inside the container.
	Bind string
	Port int
	// Dir is the data directory inside the container.
	Dir string
	// MaxMemory is maxmemory with its unit (e.g. 256mb).
	MaxMemory string
	// MaxMemoryPolicy is maxmemory-policy.
	MaxMemoryPolicy string
	// PasswordSecret names the Podman secret holding the password.
	PasswordSecret string
}

// DefaultRedis returns Clipper's Redis configuration.
func DefaultRedis() RedisConfig {
	return RedisConfig{
		Image:           "docker.io/library/redis:8-alpine",
		Bind:            "0.0.0.0",
		Port:            6379,
		Dir:             "/data",
		MaxMemory:       "256mb",
		MaxMemoryPolicy: "allkeys-lru",
		PasswordSecret:  "redis-password",
	}
}

// Paths of the Redis files, on the server and in the container.
const (
	RedisConfigDir      = ConfigRoot + "/redis"
	RedisDataDir        = DataRoot + "/redis"
	redisConfMount      = "/etc/redis"
	redisConfFileName   = "redis.conf"
	redisStartFileName  = "start.sh"
	redisHealthFileName = "healthcheck.sh"
)

var redisMemory = regexp.MustCompile(`^[0-9]+(b|k|kb|m|mb|g|gb)?$`)

var redisPolicies = map[string]bool{
	"noeviction": true, "allkeys-lru": true, "allkeys-lfu": true, "allkeys-random": true,
	"volatile-lru": true, "volatile-lfu": true, "volatile-random": true, "volatile-ttl": true,
}

// Validate checks the configuration without rendering it.
func (c RedisConfig) Validate() error {
	if err := checkNonEmpty("redis image", c.Image); err != nil {
		return err
	}
	if err := checkPort("redis port", c.Port); err != nil {
		return err
	}
	for _, f := range []struct{ name, v string }{
		{"redis bind", c.Bind}, {"redis dir", c.Dir}, {"redis password secret", c.PasswordSecret},
	} {
		if err := checkPlain(f.name, f.v); err != nil {
			return err
		}
	}
	if !redisMemory.MatchString(c.MaxMemory) {
		return fmt.Errorf("redis maxmemory %q: want a size such as 256mb: %w", c.MaxMemory, ErrInvalidValue)
	}
	if !redisPolicies[c.MaxMemoryPolicy] {
		return fmt.Errorf("redis maxmemory-policy %q: %w", c.MaxMemoryPolicy, ErrInvalidValue)
	}
	return nil
}

// Redis renders redis.conf and the container's start and health scripts.
func Redis(cfg RedisConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := render("redis.conf.tmpl", cfg)
	if err != nil {
		return nil, err
	}
	start, health, err := redisScripts(cfg, redisConfMount+"/"+redisConfFileName, Secret{Name: cfg.PasswordSecret}.Path())
	if err != nil {
		return nil, err
	}
	return []overlays.File{
		{Path: RedisConfigDir + "/" + redisConfFileName, Mode: 0o644, Contents: conf},
		{Path: RedisConfigDir + "/" + redisStartFileName, Mode: 0o644, Contents: start},
		{Path: RedisConfigDir + "/" + redisHealthFileName, Mode: 0o644, Contents: health},
	}, nil
}

// redisScripts renders the start and health scripts for the given
// container paths.
func redisScripts(cfg RedisConfig, confPath, secretPath string) (start, health []byte, err error) {
	data := struct {
		ConfPath, SecretPath string
		Port                 int
	}{confPath, secretPath, cfg.Port}
	if start, err = render("redis-start.sh.tmpl", data); err != nil {
		return nil, nil, err
	}
	if health, err = render("redis-health.sh.tmpl", data); err != nil {
		return nil, nil, err
	}
	return start, health, nil
}

// RedisRuntime describes the Redis container. The commands live in script
// files rather than on the unit's command line, where systemd would expand
// their $ and % characters.
func RedisRuntime(cfg RedisConfig) Runtime {
	// The start script reads the secret before the entrypoint drops root,
	// so the secret can stay root-only.
	secret := Secret{Name: cfg.PasswordSecret, Mode: 0o400}
	return Runtime{
		Image:      cfg.Image,
		Entrypoint: "/bin/sh",
		Exec:       []string{redisConfMount + "/" + redisStartFileName},
		Secrets:    []Secret{secret},
		Mounts: []Mount{
			{Source: RedisConfigDir, Target: redisConfMount, ReadOnly: true},
			{Source: RedisDataDir, Target: cfg.Dir},
		},
		Ports:     []int{cfg.Port},
		HealthCmd: "/bin/sh " + redisConfMount + "/" + redisHealthFileName,
	}
}
