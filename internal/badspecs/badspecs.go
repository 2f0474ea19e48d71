// Package badspecs is the table of broken appliance specs that kiln's
// tests share: the loader's tests check each diagnostic's position, path and
// message; the CLI's tests check the exit status and that nothing is
// written.
package badspecs

import "strings"

// Case breaks one thing in Minimal.
type Case struct {
	Name string
	// Old is replaced by New in Minimal to make the bad spec.
	Old, New string
	// Pos ("LINE:COL"), Path and a fragment of the message (or fix) of
	// the error the spec must produce.
	Pos, Path, Msg string
}

// Spec returns the bad spec, and whether the case applies to Minimal.
func (c Case) Spec() (string, bool) {
	return strings.Replace(Minimal, c.Old, c.New, 1), strings.Contains(Minimal, c.Old)
}

// Minimal is a valid spec the bad cases are written against.
const Minimal = `name: web
version: 1.0.0
users:
  - name: ops
    ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example"]
secrets:
  - name: db-password
volumes:
  - name: db-data
services:
  - name: db
    kind: postgres
    image: docker.io/library/postgres:17.6-alpine
    ports: [{port: 5436}]
    secrets: [db-password]
    volumes: [{volume: db-data, path: /var/lib/postgresql/data}]
  - name: api
    image: registry.example.com/api:2.1.0
    ports: [{port: 8080}]
    depends_on: [db]
backup:
  schedules:
    - name: daily
      on_calendar: "*-*-* 02:00:00"
  s3: {bucket: web-backups}
`

// Cases each break one thing and say where the error must point.
var Cases = []Case{
	{"unknown top-level key", "name: web\n", "name: web\nnmae: x\n", "2:1", "nmae", `unknown field "nmae"`},
	{"unknown key suggests", "    kind: postgres\n", "    knid: postgres\n", "12:5", "services[0].knid", `did you mean "kind"?`},
	{"unknown nested key", "  s3: {bucket: web-backups}", "  s3: {bucket: web-backups, bukket: x}", "25:29", "backup.s3.bukket", "unknown field"},
	{"missing name", "name: web\n", "", "1:1", "name", "no name"},
	{"bad name", "name: web", "name: Web_App", "1:7", "name", "not a valid name"},
	{"missing version", "version: 1.0.0\n", "", "1:1", "version", "no version"},
	{"bad version", "version: 1.0.0", "version: one", "2:10", "version", "not a version"},
	{"string for list", "ports: [{port: 8080}]", "ports: 8080", "19:12", "services[1].ports", "expected a list"},
	{"string for int", "ports: [{port: 8080}]", "ports: [{port: http}]", "19:20", "services[1].ports[0].port", "expected a whole number"},
	{"string for bool", "ports: [{port: 8080}]", "ports: [{port: 8080, public: yes please}]", "19:34", "services[1].ports[0].public", "expected true or false"},
	{"duplicate service", "  - name: api\n", "  - name: db\n", "17:11", "services[1].name", `duplicate name "db"`},
	{"duplicate secret", "  - name: db-password\n", "  - name: db-password\n  - name: db-password\n", "8:11", "secrets[1].name", "duplicate name"},
	{"two services one port", "ports: [{port: 8080}]", "ports: [{port: 5436}]", "19:20", "services[1].ports[0].port", "already used by service \"db\""},
	{"unknown dependency", "depends_on: [db]", "depends_on: [cache]", "20:18", "services[1].depends_on[0]", `unknown service "cache"`},
	{"self dependency", "depends_on: [db]", "depends_on: [api]", "20:18", "services[1].depends_on[0]", "depends on itself"},
	{"undefined secret", "secrets: [db-password]", "secrets: [db-pass]", "15:15", "services[0].secrets[0]", `undefined secret "db-pass"`},
	{"undefined volume", "volumes: [{volume: db-data,", "volumes: [{volume: dbdata,", "16:24", "services[0].volumes[0].volume", `undefined volume "dbdata"`},
	{"database port public", "ports: [{port: 5436}]", "ports: [{port: 5436, public: true}]", "14:34", "services[0].ports[0].public", "must not be public"},
	{"bad calendar", `on_calendar: "*-*-* 02:00:00"`, `on_calendar: "every day at 2"`, "24:20", "backup.schedules[0].on_calendar", "invalid OnCalendar"},
	{"calendar hour out of range", `on_calendar: "*-*-* 02:00:00"`, `on_calendar: "*-*-* 25:00:00"`, "24:20", "backup.schedules[0].on_calendar", "hour 25"},
	{"calendar with unknown time zone", `on_calendar: "*-*-* 02:00:00"`, `on_calendar: "*-*-* 02:00:00 Mars/Olympus"`, "24:20", "backup.schedules[0].on_calendar", "unknown time zone"},
	{"calendar epoch not a number", `on_calendar: "*-*-* 02:00:00"`, `on_calendar: "@tomorrow"`, "24:20", "backup.schedules[0].on_calendar", "seconds since 1970"},
	{"user without keys", `    ssh_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example"]`, "    ssh_keys: []", "5:15", "users[0].ssh_keys", "has no SSH keys"},
	{"not an ssh key", `["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example"]`, `["hunter2"]`, "5:16", "users[0].ssh_keys[0]", "not an SSH public key"},
	{"ssh key not base64", `["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example"]`, `["ssh-ed25519 notakey"]`, "5:16", "users[0].ssh_keys[0]", "not an SSH public key"},
	{"truncated ssh key", "AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example", "AAAAIFtestkeyForKilnSpecs ops@example", "5:16", "users[0].ssh_keys[0]", "not an SSH public key"},
	{"ssh key labelled with another type", `["ssh-ed25519 AAAAC3`, `["ssh-rsa AAAAC3`, "5:16", "users[0].ssh_keys[0]", "is a ssh-ed25519 key but the line says ssh-rsa"},
	{"short rsa key", `["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example"]`, `["` + RSA2048Key + `"]`, "5:16", "users[0].ssh_keys[0]", "RSA key of 2048 bits is too weak"},
	{"dsa key", `["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example"]`, `["` + DSAKey + `"]`, "5:16", "users[0].ssh_keys[0]", "DSA keys are broken"},
	{"no users", "users:\n  - name: ops\n    ssh_keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFtestkeyForKilnSpecsOnlyNotAUsableKeyxxxxxx ops@example\"]\n", "users: []\n", "3:8", "users", "nobody could log in"},
	{"root user", "  - name: ops\n", "  - name: root\n", "4:11", "users[0].name", "root cannot log in"},
	{"image without tag", "image: registry.example.com/api:2.1.0", "image: registry.example.com/api", "18:12", "services[1].image", "has no tag or digest"},
	{"malformed digest", "image: registry.example.com/api:2.1.0", "image: registry.example.com/api@sha256:abc", "18:12", "services[1].image", "malformed digest"},
	{"missing image", "    image: registry.example.com/api:2.1.0\n", "", "17:5", "services[1].image", "missing image"},
	{"unknown kind", "    kind: postgres\n", "    kind: mysql\n", "12:11", "services[0].kind", `unknown kind "mysql"`},
	{"bad memory", "    depends_on: [db]\n", "    depends_on: [db]\n    memory: lots\n", "21:13", "services[1].memory", "not a memory size"},
	{"relative volume path", "path: /var/lib/postgresql/data", "path: data", "16:39", "services[0].volumes[0].path", "not an absolute path"},
	{"bad stream", "name: web\n", "name: web\nbase: {stream: beta}\n", "2:16", "base.stream", "unknown FCOS stream"},
	{"bad release constraint", "name: web\n", "name: web\nbase: {release: \"newest\"}\n", "2:17", "base.release", "not a version constraint"},
	{"partition too early", "name: web\n", "name: web\ndata: {partition: {start_mib: 4096}}\n", "2:31", "data.partition.start_mib", "less than 8 GiB"},
	{"volume mode without device", "name: web\n", "name: web\ndata: {mode: volume}\n", "2:7", "data.device", "needs a device"},
	{"data path outside var", "name: web\n", "name: web\ndata: {path: /srv/data}\n", "2:14", "data.path", "read-only"},
	{"xfs label too long", "name: web\n", "name: web\ndata: {label: kiln-data-volume}\n", "2:15", "data.label", "at most 12"},
	{"bad cidr", "name: web\n", "name: web\nfirewall: {allow: [{port: 9090, from: [10.0.0.300/8]}]}\n", "2:40", "firewall.allow[0].from[0]", "not a network"},
	{"penalty exemption with host bits", "name: web\n", "name: web\nssh: {fail2ban: {ignoreip: [192.0.2.5/24]}}\n", "2:29", "ssh.fail2ban.ignoreip[0]", "192.0.2.0/24"},
	{"bad domain", "name: web\n", "name: web\ntls: {domains: [\"exa mple.com\"], email: a@b.c}\n", "2:17", "tls.domains[0]", "not a domain name"},
	{"wildcard domain", "name: web\n", "name: web\ntls: {domains: [\"*.example.com\"], email: a@b.c}\n", "2:17", "tls.domains[0]", "DNS-01"},
	{"email with a display name", "name: web\n", "name: web\ntls: {domains: [web.example.com], email: \"Ops <ops@example.com>\"}\n", "2:42", "tls.email", "not an email address"},
	{"acme without email", "name: web\n", "name: web\ntls: {domains: [web.example.com]}\n", "2:6", "tls.email", "contact email"},
	{"bad target platform", "name: web\n", "name: web\ntargets: [{platform: gcpp}]\n", "2:22", "targets[0].platform", `unknown platform "gcpp"`},
	{"bad target format", "name: web\n", "name: web\ntargets: [{platform: metal, formats: [raw.bz2]}]\n", "2:39", "targets[0].formats[0]", "unknown format"},
	{"iso on a cloud platform", "name: web\n", "name: web\ntargets: [{platform: hetzner, formats: [iso]}]\n", "2:41", "targets[0].formats[0]", "boots bare metal"},
	{"live iso with a boot-disk partition", "name: web\n", "name: web\ntargets: [{platform: metal, formats: [raw.xz, iso]}]\n", "2:47", "targets[0].formats[1]", "a live boot has no boot disk"},
	{"live pxe with a boot-disk partition", "name: web\n", "name: web\ntargets:\n  - platform: metal\n    formats: [pxe]\n", "4:15", "targets[0].formats[0]", "add `install: {device: /dev/sda}`"},
	{"metal defaults with a boot-disk partition", "name: web\n", "name: web\ntargets: [{platform: metal}]\n", "2:22", "targets[0].platform", "default formats of metal include iso"},
	{"install on a disk-only target", "name: web\n", "name: web\ntargets: [{platform: hetzner, install: {device: /dev/sda}}]\n", "2:40", "targets[0].install", "applies only to the iso and pxe formats"},
	{"install device not a path", "name: web\n", "name: web\ntargets: [{platform: metal, formats: [iso], install: {device: sda}}]\n", "2:63", "targets[0].install.device", "not a device path"},
	{"install without device", "name: web\n", "name: web\ntargets: [{platform: metal, formats: [iso], install: {}}]\n", "2:54", "targets[0].install", "install needs a device"},
	{"install onto the data volume", "name: web\n", "name: web\ndata: {mode: volume, device: /dev/sdb}\ntargets: [{platform: metal, formats: [iso], install: {device: /dev/sdb}}]\n", "3:63", "targets[0].install.device", "would wipe the data volume"},
	{"declared disk too small", "name: web\n", "name: web\ntargets: [{platform: hetzner, disk_gib: 10}]\n", "2:41", "targets[0].disk_gib", "use a disk of at least 11 GiB"},
	{"registry auth file relative", "name: web\n", "name: web\nregistry: {auth_file: auth.json}\n", "2:23", "registry.auth_file", "not a usable path"},
	{"registry auth file read-only", "name: web\n", "name: web\nregistry: {auth_file: /usr/lib/auth.json}\n", "2:23", "registry.auth_file", "only /etc and /var are"},
	{"pull timeout shorter than retries", "name: web\n", "name: web\nregistry: {pull_retries: 10, pull_retry_delay: 2m, pull_timeout: 15m}\n", "2:66", "registry.pull_timeout", "before 10 retries"},
	{"bad pull retry delay", "name: web\n", "name: web\nregistry: {pull_retry_delay: soon}\n", "2:30", "registry.pull_retry_delay", "not a duration"},
	{"backup without bucket", "  s3: {bucket: web-backups}\n", "", "22:3", "backup.s3.bucket", "no destination"},
	{"archive timeout too long", "  s3: {bucket: web-backups}\n", "  s3: {bucket: web-backups}\n  archive_timeout: 1h\n", "26:20", "backup.archive_timeout", "archive timeout"},
	{"dependency loop", "    ports: [{port: 5436}]\n", "    ports: [{port: 5436}]\n    depends_on: [api]\n", "15:17", "services[0].depends_on", "dependency loop"},
	{"bad env name", "    depends_on: [db]\n", "    depends_on: [db]\n    env: {1X: y}\n", "21:15", "services[1].env.1X", "not an environment variable name"},
	{"syntax error", "name: web\n", "name: web\n  bad: [\n", "2:1", "", "not valid YAML"},
	{"two documents", "name: web\n", "name: web\n---\nname: other\n", "2:1", "", "more than one YAML document"},
	{"list instead of mapping", "name: web\n", "name: web\nssh: [22]\n", "2:6", "ssh", "expected a mapping"},
}

// Warnings each make Minimal questionable but buildable: the spec loads,
// with a warning at Pos, and --strict refuses it.
var Warnings = []Case{
	{"partition block under mode volume", "name: web\n", "name: web\ndata:\n  mode: volume\n  device: /dev/vdb\n  partition: {start_mib: 20480}\n", "5:14", "data.partition", "ignored: data.mode is volume"},
	{"partition block under mode none", "name: web\n", "name: web\ndata:\n  mode: none\n  partition:\n    number: 6\n", "5:5", "data.partition", "remove the `partition:` block"},
	{"ephemeral data", "name: web\n", "name: web\ndata: {mode: none}\n", "2:14", "data.mode", "data is lost on every rebuild"},
	{"small droplets cannot hold the data partition", "name: web\n", "name: web\ntargets: [{platform: digitalocean}]\n", "2:22", "targets[0].platform", "DigitalOcean's smallest droplets have 10 GiB disks, and this appliance needs 11 GiB"},
	{"image not pinned", "image: registry.example.com/api:2.1.0", "image: registry.example.com/api:2.1.0", "18:12", "services[1].image", "not pinned by digest"},
	{"moving tag", "image: registry.example.com/api:2.1.0", "image: registry.example.com/api:latest", "18:12", "services[1].image", "moving tag latest"},
}

// Keys made with ssh-keygen for the tables below; nobody uses their
// private halves.
const (
	// RSA2048Key is a well-formed RSA key that is too short for kiln.
	RSA2048Key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCaUK0Pd0uGk8I7kzDZpDKNXdT4s7eb6E6xxaMoRrmPaGKRKrvcu1X8nmrWLqu77hM+UU5P/iGWNNNiN0Ci5u2bGnCcFzzDP6ECaA0jkovE9Fd+ctOz28Ox7+3kDQJrVD7MaZXO6SrliV9DH6Ms3QmFZ5lJMWN2uvbPe5TS2yuaoZ5qvnRuXolHKc63WE9JxbpYiow4a0KdiMN4vRwJW0PzpS5gR4vCt+5LCNUz/sY+EOoqJHdyLzpfEhiZQPMDyDd1uycO9OaQijKVBkv+MIqEwNBWLI2GJri47zndZT8G/yIT0HCGHJ+D6ZSgG55vVaEf5ufzCDAIQGD572UfBFgz ops@example"
	// DSAKey is a well-formed DSA key, a type kiln refuses.
	DSAKey = "ssh-dss AAAAB3NzaC1kc3MAAACBAIzPfFDjqQvu5wavs4ZPnbTOKChfdu1yl72wS3fKkuoX93NaufUvhSe63xhSlPdzqZPgBMrQVnSBXr2XxyHyafMlU7b1AA5QjVWnbnYgM7v5s5a28zBGaVK95B72BiEWYU4tBiLZUFaUxduWRaTV8Ecdv35xlOsDzEbhVUBBaGuPAAAAFQCtSgcHkabdphCs0I1STe+RM2NFfQAAAIAWpJQ499cr07yRGVf7mSmVYRGLjJGLLuFzv+Lu2UwdFHKChL/tZlDQFYYvmONDS0/EPB8BpvSvzp1xMpHyYOa2WjcLg0rHVPE0thdsSyVaD4+y0ud9S+U/hAUHz5zc+ixdZVzvUius1pA6U8fhlDwcKN0/dgNCZQjrmQl+CMIrfAAAAIAB1C/3JYxe9ychWVwau1aTemNqy3tHx9Kd3f3giQYmqiCPLmUF87XpvFe7S8J70WRCJDD78lskHFx1JmjPl6TNlGMsCVdM1jgut74t6dAt6Hk3EvKKh3cyZPUUmyfQACYA28SEgCMTuV9/MjnpdBlM64VxUkTJv/5zahH12Irj0g== ops@example"
	// RSA3072Key is the shortest RSA key kiln accepts.
	RSA3072Key = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQDhwVQcrgAlsAXLWmnMxuRKUl3tc0j6JkS9/GiksnAw39gg+pdE5K/DqoI/RpOU+owrcG8IG6z/MqF03l0k810+CozhKaRhMs9GQT6o/cUqbqVtqZDDUb2UyJs+eg931nQe8CX5Jn/UEgEkqmqXfNm7ln0h4fQLAN+wB4Xv58TK5LnU9iaixfQE7CJ190iCPG8TeoLYlDKUUf+W5DkBFkwEPwUsKztgVN4A0Nzw0KGO8BpIw/yWdSUC3aPvOOdrmnKQbS5vtYlJLDql+CP5x40jze20Brk4E7PrNDERQ1XPon3R+TuIl7JWfrHaHNAGc0jrx3QH3xpD61+BqmpJH777Ld6cn0m7v+dklyZ5Mr71iR2sdT3LGAeDS3A9idcWOF89rFXxUbAFsefup2llkeiEhbmvNYFhFLzmn8NUHGB70Vhkifu2sJImuCkw2/ODC8xdIRlzYuYx1GE8oR/fFWexGYZyBkKEvNidGq4fYveC/uSeOufp0mL1mNtvdfGIKC8= ops@example"
)
