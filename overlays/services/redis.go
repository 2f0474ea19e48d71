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
	RedisConfigDir    = ConfigRoot + "/redis"
	RedisDataDir      = DataRoot + "/redis"
	redisConfMount    = "/etc/redis"
	redisConfFileName = "redis.conf"
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

// Redis renders redis.conf.
func Redis(cfg RedisConfig) ([]overlays.File, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conf, err := render("redis.conf.tmpl", cfg)
	if err != nil {
		return nil, err
	}
	return []overlays.File{{Path: RedisConfigDir + "/" + redisConfFileName, Mode: 0o644, Contents: conf}}, nil
}

// RedisStartScript is the shell script that starts Redis with the password
// read from the secret file. Redis has no directive that reads a password
// from a file, so it goes on the command line; Redis overwrites its process
// title at start, which hides it from ps. The image's entrypoint still runs
// (it drops root before starting the server). extraArgs are appended
// verbatim (tests use them to move the port and directory).
func RedisStartScript(confPath, secretPath, extraArgs string) string {
	s := fmt.Sprintf(`exec docker-entrypoint.sh redis-server %s --requirepass "$(cat %s)"`, confPath, secretPath)
	if extraArgs != "" {
		s += " " + extraArgs
	}
	return s
}

// RedisHealthCmd is a shell command that succeeds when Redis answers an
// authenticated PING. REDISCLI_AUTH keeps the password off redis-cli's
// command line.
func RedisHealthCmd(secretPath string, port int) string {
	return fmt.Sprintf(`REDISCLI_AUTH="$(cat %s)" redis-cli -p %d ping | grep -q PONG`, secretPath, port)
}

// RedisRuntime describes the Redis container.
func RedisRuntime(cfg RedisConfig) Runtime {
	// The script reads the secret before the entrypoint drops root, so the
	// secret can stay root-only.
	secret := Secret{Name: cfg.PasswordSecret, Mode: 0o400}
	return Runtime{
		Image:      cfg.Image,
		Entrypoint: "/bin/sh",
		Exec:       []string{"-c", RedisStartScript(redisConfMount+"/"+redisConfFileName, secret.Path(), "")},
		Secrets:    []Secret{secret},
		Mounts: []Mount{
			{Source: RedisConfigDir, Target: redisConfMount, ReadOnly: true},
			{Source: RedisDataDir, Target: cfg.Dir},
		},
		Ports:     []int{cfg.Port},
		HealthCmd: RedisHealthCmd(secret.Path(), cfg.Port),
	}
}
