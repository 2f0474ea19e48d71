package services

import (
	"regexp"

	"github.com/kiln-dev/kiln/overlays"
	"github.com/kiln-dev/kiln/units"
)

// RedisConfig is the Redis server configuration.
type RedisConfig struct {
	// Bind and Port are where Redis listens inside the container.
	Bind string
	Port int
	// Dir is the data directory inside the container.
	Dir string
	// DataDir is the data directory on the data filesystem.
	DataDir string
	// MaxMemory is maxmemory with its unit (e.g. 256mb).
	MaxMemory string
	// MaxMemoryPolicy is maxmemory-policy.
	MaxMemoryPolicy string
	// PasswordSecret names the Podman secret holding the password.
	PasswordSecret string
	// UID is the numeric user the image runs its process as, which owns
	// the mounted password secret; the plan decides it from the image.
	UID string
}

// Paths of the Redis files, on the server and in the container.
const (
	RedisConfigDir      = ConfigRoot + "/redis"
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
	if err := firstError(
		checkPort("port", c.Port),
		checkPlains("bind", c.Bind, "dir", c.Dir, "password_secret", c.PasswordSecret, "data_dir", c.DataDir),
	); err != nil {
		return err
	}
	if !redisMemory.MatchString(c.MaxMemory) {
		return bad("max_memory", c.MaxMemory, "want a size such as 256mb", ErrInvalidValue)
	}
	if !redisPolicies[c.MaxMemoryPolicy] {
		return overlays.Bad("max_memory_policy", c.MaxMemoryPolicy, ErrInvalidValue)
	}
	return nil
}

// Redis renders redis.conf and the container's start and health scripts,
// and the container that runs them.
func Redis(cfg RedisConfig) (overlays.Component, error) {
	if err := cfg.Validate(); err != nil {
		return overlays.Component{}, err
	}
	conf, err := render("redis.conf.tmpl", cfg)
	if err != nil {
		return overlays.Component{}, err
	}
	start, check, err := redisScripts(cfg, redisConfMount+"/"+redisConfFileName, secretPath(cfg.PasswordSecret))
	if err != nil {
		return overlays.Component{}, err
	}
	return overlays.Component{Files: []overlays.File{
		{Path: RedisConfigDir + "/" + redisConfFileName, Mode: 0o644, Contents: conf},
		{Path: RedisConfigDir + "/" + redisStartFileName, Mode: 0o644, Contents: start},
		{Path: RedisConfigDir + "/" + redisHealthFileName, Mode: 0o644, Contents: check},
	}, Container: redisContainer(cfg), DataDirs: []overlays.DataDir{{Path: cfg.DataDir}}}, nil
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

// redisContainer is the Redis container. The commands live in script
// files rather than on the unit's command line, where systemd would expand
// their $ and % characters.
func redisContainer(cfg RedisConfig) units.Container {
	return units.Container{
		Entrypoint: "/bin/sh",
		Exec:       []string{redisConfMount + "/" + redisStartFileName},
		Secrets:    []units.SecretMount{secret(cfg.PasswordSecret, cfg.UID)},
		Mounts: []units.Mount{
			{Source: RedisConfigDir, Target: redisConfMount, ReadOnly: true},
			{Source: cfg.DataDir, Target: cfg.Dir},
		},
		Health: health("/bin/sh %s/%s", redisConfMount, redisHealthFileName),
		Notify: true,
	}
}
